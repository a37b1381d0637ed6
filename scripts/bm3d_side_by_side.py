#!/usr/bin/env python3
"""(C)BM3D on the noisy test photos the denoise example writes, for the side-by-side
table: a reference only (PyPI's `bm3d`, the authors' build), never a dependency.

    cargo run --release --example denoise -- --side-by-side noisy:target/side-by-side
    python3 scripts/bm3d_side_by_side.py target/side-by-side
    cargo run --release --example denoise -- --side-by-side table:target/side-by-side

Reads DIR/manifest.json; each noisy image is a [C, H·W] float32 .npy (not clipped).
Colour images go to `bm3d.bm3d_rgb(noisy, sigma/255)` (CBM3D, opponent colour space),
grey ones to `bm3d.bm3d(noisy, sigma/255)`; each result is written as a [C, H·W]
float32 .npy beside it, and the seconds each took (wall clock, on this process's
threads) to DIR/bm3d_times.json. Images already done are skipped.
"""
import json
import os
import sys
import time

import bm3d
import numpy as np


def main(folder):
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    times_path = os.path.join(folder, "bm3d_times.json")
    times = json.load(open(times_path)) if os.path.exists(times_path) else {}
    # σ = 25 first: the level the targets are stated at.
    for entry in sorted(manifest, key=lambda e: (e["sigma"] != 25, e["sigma"])):
        out = os.path.join(folder, entry["bm3d"])
        if entry["bm3d"] in times and os.path.exists(out):
            continue
        c, h, w = entry["channels"], entry["height"], entry["width"]
        noisy = np.load(os.path.join(folder, entry["noisy"])).reshape(c, h, w)
        sigma = entry["sigma"] / 255.0
        start = time.perf_counter()
        if c == 3:
            denoised = bm3d.bm3d_rgb(np.ascontiguousarray(noisy.transpose(1, 2, 0)), sigma)
            denoised = denoised.transpose(2, 0, 1)
        else:
            denoised = bm3d.bm3d(noisy[0], sigma)[None]
        seconds = time.perf_counter() - start
        np.save(out, np.ascontiguousarray(denoised, dtype=np.float32).reshape(c, h * w))
        times[entry["bm3d"]] = seconds
        json.dump(times, open(times_path, "w"), indent=1)
        print(f"{entry['noisy']}: {seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
