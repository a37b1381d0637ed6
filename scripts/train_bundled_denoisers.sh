#!/usr/bin/env bash
# Trains the two denoisers bundled in the binary (assets/denoise/), seeded, with the
# project's own code: a colour (RGB, joint) and a grey blind denoiser over σ ∈ [0, 50]
# (DnCNN-B's range, one level per patch per step), each a U-Net of 3 levels, width 16,
# 2 convolutions per level and side (the architecture that gave the most PSNR per
# second of training: scripts/compare_denoiser_archs.sh). Each stage's full output is
# kept beside the models (*.log). About two hours on two CPU cores, in stages:
#
# 1. Both models, side by side on one thread each, on the ten training photos the
#    shared data folder has (copied to target/train-photos-10): 229,376 patch
#    presentations (14 epochs of the same 16,384 48 × 48 patches, drawn with the 8
#    symmetries, with fresh noise at every step). The colour model trains in batches
#    of 16 (more updates: better in the five-minute example) on patches whose channels
#    come in any of their six orders (more colours than the photos have); the grey one
#    in batches of 32 (colour.log, grey.log).
# 2. Colour: 12 epochs of 16,384 new patches (seed 8) at learning rate 1e-3, both
#    threads (colour-stage2.log).
# 3. Colour: all fifteen training photos (the ten and the five colour photos added to
#    data/photos/train for it, see its PROVENANCE.md), 12 epochs of 32,768 patches
#    (seed 9), lr 1e-3, both threads (colour-stage3.log).
# 4. Side by side on one thread each, on the fifteen photos: the colour model 8 epochs
#    of 16,384 new patches (seed 10) at lr 5e-4 (colour-stage4.log); the grey model,
#    continued from stage 1, 6 epochs of 24,576 patches (seed 8) in batches of 16 at
#    lr 1e-3 (grey-stage2.log).
#
#     bash scripts/train_bundled_denoisers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example denoise
out=assets/denoise
run=./target/release/examples/denoise
net=(--arch unet --unet-levels 3 --width 16 --depth 2 --patch 48 --blind 0,50)

ten=target/train-photos-10
mkdir -p "$ten"
for photo in astronaut brick camera chelsea coffee coins grass gravel hubble_deep_field rocket; do
    cp "data/photos/train/$photo.png" "$ten/"
done
stage1=("${net[@]}" --train-dir "$ten" --patches 16384 --epochs 14 --lr 2e-3 --seed 7)
RAYON_NUM_THREADS=1 $run --colour yes "${stage1[@]}" --batch 16 \
    --out target/bundled-colour --model-out "$out/colour.safetensors" > "$out/colour.log" 2>&1 &
RAYON_NUM_THREADS=1 $run --colour no "${stage1[@]}" --batch 32 \
    --out target/bundled-grey --model-out "$out/grey.safetensors" > "$out/grey.log" 2>&1 &
wait

RAYON_NUM_THREADS=2 $run --colour yes "${net[@]}" --train-dir "$ten" \
    --patches 16384 --epochs 12 --batch 16 --lr 1e-3 --seed 8 \
    --init-from target/bundled-colour/model.safetensors --out target/bundled-colour-2 \
    --model-out "$out/colour.safetensors" > "$out/colour-stage2.log" 2>&1

RAYON_NUM_THREADS=2 $run --colour yes "${net[@]}" \
    --patches 32768 --epochs 12 --batch 16 --lr 1e-3 --seed 9 \
    --init-from target/bundled-colour-2/model.safetensors --out target/bundled-colour-3 \
    --model-out "$out/colour.safetensors" > "$out/colour-stage3.log" 2>&1

RAYON_NUM_THREADS=1 $run --colour yes "${net[@]}" \
    --patches 16384 --epochs 8 --batch 16 --lr 5e-4 --seed 10 \
    --init-from target/bundled-colour-3/model.safetensors --out target/bundled-colour-4 \
    --model-out "$out/colour.safetensors" > "$out/colour-stage4.log" 2>&1 &
RAYON_NUM_THREADS=1 $run --colour no "${net[@]}" \
    --patches 24576 --epochs 6 --batch 16 --lr 1e-3 --seed 8 \
    --init-from target/bundled-grey/model.safetensors --out target/bundled-grey-2 \
    --model-out "$out/grey.safetensors" > "$out/grey-stage2.log" 2>&1 &
wait
