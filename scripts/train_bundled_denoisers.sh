#!/usr/bin/env bash
# Trains the two denoisers bundled in the binary (assets/denoise/), seeded, with the
# project's own code: a colour (RGB, joint) and a grey blind DnCNN-style denoiser over
# σ ∈ [0, 50]. Each run's full output is kept beside its model (*.log). The two runs
# are independent and run side by side. The budget was cut by the time left on two
# CPU cores shared with two other jobs (a first, larger colour run, w40 d10 on 12,288
# patches × 7 epochs, ran at 9–25 patches/s and was stopped after 4 epochs).
#
#     bash scripts/train_bundled_denoisers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example denoise
out=assets/denoise
nice ./target/release/examples/denoise --colour yes --arch dncnn --blind 0,50 \
    --width 32 --depth 8 --patches 4096 --epochs 4 --seed 7 \
    --out target/bundled-colour --model-out target/colour-stage1.safetensors \
    > "$out/colour-stage1.log" 2>&1 &
nice ./target/release/examples/denoise --colour no --arch dncnn --blind 0,50 \
    --width 32 --depth 8 --patches 6144 --epochs 4 --seed 7 \
    --out target/bundled-grey --model-out "$out/grey.safetensors" > "$out/grey.log" 2>&1 &
wait
# The colour model then trained on (Adam restarted, lr 1e-3, new patches and seed) while
# the machine was quieter: this is the bundled colour model.
nice ./target/release/examples/denoise --colour yes --arch dncnn --blind 0,50 \
    --width 32 --depth 8 --init-from target/colour-stage1.safetensors \
    --patches 8192 --epochs 5 --lr 1e-3 --seed 8 \
    --out target/bundled-colour-2 --model-out "$out/colour.safetensors" > "$out/colour.log" 2>&1
