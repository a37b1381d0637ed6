#!/usr/bin/env bash
# Trains the two denoisers bundled in the binary (assets/denoise/), seeded, with the
# project's own code: a colour (RGB, joint) and a grey blind denoiser over σ ∈ [0, 50]
# (DnCNN-B's range, one level per patch per step), each a U-Net of 3 levels, width 16,
# 2 convolutions per level and side (the architecture that gave the most PSNR per
# second of training: scripts/compare_denoiser_archs.sh). Each run's full output is
# kept beside its model (*.log). The two runs are independent and run side by side,
# one thread each, on 229,376 patch presentations (14 epochs of the same 16,384
# 48 × 48 patches, drawn with the 8 symmetries from the 10 training photos, with
# fresh noise at every step): about 45 minutes on two CPU cores. The colour model
# trains in batches of 16 (more updates: better in the five-minute example) on patches
# whose channels come in any of their six orders (the example's default for colour:
# more colours than the ten photos have); the grey one in batches of 32. The colour
# model then goes on for a second stage on 16,384 new patches (seed 8) for 12 epochs at
# learning rate 1e-3, both threads (about 17 minutes; colour-stage2.log).
#
#     bash scripts/train_bundled_denoisers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example denoise
out=assets/denoise
common=(--arch unet --unet-levels 3 --width 16 --depth 2 --patch 48 --blind 0,50
    --patches 16384 --epochs 14 --lr 2e-3)
RAYON_NUM_THREADS=1 ./target/release/examples/denoise --colour yes "${common[@]}" --batch 16 --seed 7 \
    --out target/bundled-colour --model-out "$out/colour.safetensors" > "$out/colour.log" 2>&1 &
RAYON_NUM_THREADS=1 ./target/release/examples/denoise --colour no "${common[@]}" --batch 32 --seed 7 \
    --out target/bundled-grey --model-out "$out/grey.safetensors" > "$out/grey.log" 2>&1 &
wait
RAYON_NUM_THREADS=2 ./target/release/examples/denoise --colour yes "${common[@]:0:12}" \
    --patches 16384 --epochs 12 --batch 16 --lr 1e-3 --seed 8 \
    --init-from target/bundled-colour/model.safetensors --out target/bundled-colour-2 \
    --model-out "$out/colour.safetensors" > "$out/colour-stage2.log" 2>&1
