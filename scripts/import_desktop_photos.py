#!/usr/bin/env python3
"""Imports colour training photos from two Debian bookworm packages (see
data/photos/PROVENANCE.md, "Added from Debian's Enlightenment and LXQt wallpapers"):
enlightenment-data 0.25.4-2 (photos stored inside Edje `.edj` background files, decoded with `edje_decc` from libedje-bin 1.26.3) and lxqt-themes
1.2.0-1 (plain JPEG/PNG wallpapers). Each photo is converted to 8-bit RGB (all sources
are already RGB without alpha), resized with Pillow's Lanczos filter so that its long
side is 768 pixels (only ever downscaled) and written as a PNG.

    apt-get download enlightenment-data lxqt-themes
    apt-get install --no-install-recommends libedje-bin      # for edje_decc
    dpkg-deb -x enlightenment-data_0.25.4-2_all.deb e
    dpkg-deb -x lxqt-themes_1.2.0-1_all.deb lxqt
    python3 scripts/import_desktop_photos.py e lxqt data/photos/train

For each `.edj`, `edje_decc FILE.edj -o DIR` writes the image set as PNGs; the
full-resolution one is `img.png` (3840 pixels wide), the others are the package's own
smaller copies and are not used.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

LONG_SIDE = 768
EDJ_DIR = "usr/share/enlightenment/data/backgrounds"
LXQT_DIR = "usr/share/lxqt/wallpapers"
# enlightenment-data .edj -> output name (licence: debian/copyright "Files: *", BSD-2-clause)
EDJ = {
    "Bamboo.edj": "bamboo.png",
    "God-Rays.edj": "godrays.png",
    "Green-Maple.edj": "greenmaple.png",
    "Lichen-Branches.edj": "lichen.png",
    "Red-Maple.edj": "redmaple.png",
    "Sea-of-Lanterns.edj": "lanterns.png",
    "Snow-Trees.edj": "snowtrees.png",
    "Sunset-Clouds.edj": "sunsetclouds.png",
    "White-Flower.edj": "frangipani.png",
    "Yellow-Flower.edj": "yellowflower.png",
}
# lxqt-themes wallpaper -> output name (licence: wallpapers/License, CC BY-SA 3.0, stefonarch)
LXQT = {
    "flowers.png": "wildflowers.png",
    "this-is-not-windows.jpg": "hills.png",
    "fog.jpg": "fogfield.png",
    "after-the-rain.jpg": "afterrain.png",
}


def to_rgb(image: Image.Image, name: str) -> Image.Image:
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
        if alpha.getextrema() != (255, 255):
            sys.exit(f"{name} has real transparency; rejected")
    return image.convert("RGB")


def convert(path: Path, destination: Path) -> None:
    image = Image.open(path)
    image.load()
    rgb = to_rgb(image, str(path))
    if max(rgb.size) > LONG_SIDE:
        scale = LONG_SIDE / max(rgb.size)
        size = (round(rgb.width * scale), round(rgb.height * scale))
        small = rgb.resize(size, Image.LANCZOS)
    else:
        small = rgb
    if destination.exists():
        sys.exit(f"{destination} exists; not overwriting it")
    small.save(destination, optimize=True)
    print(f"{path.name} {rgb.size} -> {destination} {small.size}")


def main(enlightenment: Path, lxqt: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, out in EDJ.items():
            work = Path(tmp) / name
            subprocess.run(
                ["edje_decc", str(enlightenment / EDJ_DIR / name), "-o", str(work)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            convert(work / "img.png", target / out)
    for name, out in LXQT.items():
        convert(lxqt / LXQT_DIR / name, target / out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
