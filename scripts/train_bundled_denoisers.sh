#!/usr/bin/env bash
# Trains the two denoisers bundled in the binary (assets/denoise/), seeded, with the
# project's own code: a colour (RGB, joint) and a grey blind DnCNN-style denoiser over
# σ ∈ [0, 50]. Each run's full output is kept beside its model (*.log). About 45 min
# on two shared CPU cores.
#
#     bash scripts/train_bundled_denoisers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example denoise
out=assets/denoise
nice ./target/release/examples/denoise --colour yes --arch dncnn --blind 0,50 \
    --width 40 --depth 10 --patches 12288 --epochs 7 --seed 7 \
    --out target/bundled-colour --model-out "$out/colour.safetensors" 2>&1 | tee "$out/colour.log"
nice ./target/release/examples/denoise --colour no --arch dncnn --blind 0,50 \
    --width 32 --depth 8 --patches 8192 --epochs 5 --seed 7 \
    --out target/bundled-grey --model-out "$out/grey.safetensors" 2>&1 | tee "$out/grey.log"
