#!/usr/bin/env python3
"""Imports the colour training photos taken from Debian's lomiri-wallpapers-16.04 and
lomiri-wallpapers-20.04 packages (see data/photos/PROVENANCE.md, "Added from Debian's
Lomiri wallpapers"): each JPEG is decoded, resized with Pillow's Lanczos filter so that
its long side is 768 pixels (the wallpapers are 2–6 k pixels wide; at that size the
noise and JPEG artefacts of the originals average away and the textures have the scale
of the other photos), and written as an 8-bit RGB PNG.

    apt-get download lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    for d in lomiri-wallpapers-*.deb; do dpkg-deb -x "$d" lomiri; done
    python3 scripts/import_lomiri_photos.py lomiri/usr/share/backgrounds data/photos/train
"""
import sys
from pathlib import Path

from PIL import Image

LONG_SIDE = 768
# source file -> name in data/photos/train (licences in PROVENANCE.md)
PHOTOS = {
    "Picture_0B_by_freespace.jpg": "figs.png",
    "Picture_1A_by_freespace.jpg": "brushes.png",
    "Wine_by_Jakkub_Mede.jpg": "wine.png",
    "aitzgorri_by_Aitzol_Berasategi.jpg": "aitzgorri.png",
    "friends_by_Aitzol_Berasategi.jpg": "friends.png",
    "life_by_Aitzol_Berasategi.jpg": "stream.png",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": "picosdeeuropa.png",
    "seeding_by_Clements_Engelhardt.jpg": "dandelions.png",
    "sunset_by_Aitzol_Berasategi.jpg": "sunset.png",
    "Dragonfly_by_Bolly.jpg": "leaves.png",
    "Kleiber_by_Lukas_Baubkus.jpg": "nuthatch.png",
}


def main(source: Path, target: Path) -> None:
    for name, out in PHOTOS.items():
        image = Image.open(source / name).convert("RGB")
        scale = LONG_SIDE / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        small = image.resize(size, Image.LANCZOS)
        destination = target / out
        if destination.exists():
            sys.exit(f"{destination} exists; not overwriting it")
        small.save(destination, optimize=True)
        print(f"{name} {image.size} -> {destination} {small.size}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
