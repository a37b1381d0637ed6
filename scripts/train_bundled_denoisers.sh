#!/usr/bin/env bash
# Trains the two denoisers bundled in the binary (assets/denoise/), seeded, with the
# project's own code: a colour (RGB, joint) and a grey blind denoiser over σ ∈ [0, 50]
# (DnCNN-B's range, one level per patch per step), each a U-Net of 3 levels, width 16,
# 2 convolutions per level and side (the architecture that gave the most PSNR per
# second of training: scripts/compare_denoiser_archs.sh). Each stage's full output is
# kept beside the models (*.log). About four and a half hours on two CPU cores, in stages:
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
# 3. Colour: fifteen training photos (the ten and the first five colour photos added to
#    data/photos/train for it, see its PROVENANCE.md; copied to target/train-photos-15),
#    12 epochs of 32,768 patches (seed 9), lr 1e-3, both threads (colour-stage3.log).
# 4. Side by side on one thread each, on the fifteen photos: the colour model 8 epochs
#    of 16,384 new patches (seed 10) at lr 5e-4 (colour-stage4.log); the grey model,
#    continued from stage 1, 6 epochs of 24,576 patches (seed 8) in batches of 16 at
#    lr 1e-3 (grey-stage2.log).
# 5. Colour: 26 training photos (the fifteen and the eleven from Debian's Lomiri
#    wallpapers; copied to target/train-photos-26), 16 epochs of 32,768 patches (seed 12), lr 1e-3, both threads (colour-stage5.log).
# 6. Colour: 8 epochs of 16,384 new patches (seed 13) at lr 5e-4, both threads
#    (colour-stage6.log).
# 7. Colour: larger patches, so that the network learns to use its whole receptive
#    field (59 pixels each way; a 48 × 48 patch is mostly border): 10 epochs of 4,096
#    patches of 96 × 96 (seed 14), lr 5e-4 (colour-stage7.log).
# 8. Grey: the same larger patches on the 26 photos, continued from stage 4 (grey-stage3.log).
#    (Patches of 128 × 128 after stage 7, 10 epochs of 3,072, gave the colour model 0.01 dB:
#    not worth a stage.)
# 9. Colour: all 40 training photos (with the fourteen from Debian's Enlightenment and
#    LXQt wallpapers), 15 epochs of 8,192 patches of 96 × 96 (seed 15), lr 5e-4
#    (colour-stage8.log).
#
#     bash scripts/train_bundled_denoisers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example denoise
out=assets/denoise
run=./target/release/examples/denoise
unet=(--arch unet --unet-levels 3 --width 16 --depth 2 --blind 0,50)
net=("${unet[@]}" --patch 48)

ten=target/train-photos-10
fifteen=target/train-photos-15
mkdir -p "$ten" "$fifteen"
for photo in astronaut brick camera chelsea coffee coins grass gravel hubble_deep_field rocket; do
    cp "data/photos/train/$photo.png" "$ten/"
done
cp "$ten"/*.png "$fifteen/"
for photo in kodim23 monarch sail ihc raccoon; do
    cp "data/photos/train/$photo.png" "$fifteen/"
done
twentysix=target/train-photos-26
mkdir -p "$twentysix"
cp "$fifteen"/*.png "$twentysix/"
for photo in figs brushes wine aitzgorri friends stream picosdeeuropa sunset dandelions \
    leaves nuthatch; do
    cp "data/photos/train/$photo.png" "$twentysix/"
done
stage1=("${net[@]}" --train-dir "$ten" --patches 16384 --epochs 14 --lr 2e-3 --seed 7)
RAYON_NUM_THREADS=1 $run --colour yes "${stage1[@]}" --batch 16 \
    --out target/bundled-colour --model-out "$out/colour.safetensors" > "$out/colour.log" 2>&1 &
RAYON_NUM_THREADS=1 $run --colour no "${stage1[@]}" --batch 32 \
    --out target/bundled-grey --model-out "$out/grey.safetensors" > "$out/grey.log" 2>&1 &
wait

# Stage N of the KIND (colour or grey) model on THREADS threads, in batches of 16,
# continued from target/FROM into target/bundled-KIND-N and assets/denoise/KIND.safetensors,
# logged to KIND-stageN.log:  continue_stage THREADS KIND FROM N ARGUMENTS…
continue_stage() {
    local threads=$1 kind=$2 from=$3 stage=$4 colour=no
    shift 4
    if [ "$kind" = colour ]; then colour=yes; fi
    RAYON_NUM_THREADS=$threads $run --colour "$colour" "$@" --batch 16 \
        --init-from "target/$from/model.safetensors" --out "target/bundled-$kind-$stage" \
        --model-out "$out/$kind.safetensors" > "$out/$kind-stage$stage.log" 2>&1
}

continue_stage 2 colour bundled-colour 2 "${net[@]}" --train-dir "$ten" \
    --patches 16384 --epochs 12 --lr 1e-3 --seed 8
continue_stage 2 colour bundled-colour-2 3 "${net[@]}" --train-dir "$fifteen" \
    --patches 32768 --epochs 12 --lr 1e-3 --seed 9
continue_stage 1 colour bundled-colour-3 4 "${net[@]}" --train-dir "$fifteen" \
    --patches 16384 --epochs 8 --lr 5e-4 --seed 10 &
continue_stage 1 grey bundled-grey 2 "${net[@]}" --train-dir "$fifteen" \
    --patches 24576 --epochs 6 --lr 1e-3 --seed 8 &
wait
continue_stage 2 colour bundled-colour-4 5 "${net[@]}" --train-dir "$twentysix" \
    --patches 32768 --epochs 16 --lr 1e-3 --seed 12
continue_stage 2 colour bundled-colour-5 6 "${net[@]}" --train-dir "$twentysix" \
    --patches 16384 --epochs 8 --lr 5e-4 --seed 13
continue_stage 2 colour bundled-colour-6 7 "${unet[@]}" --patch 96 --train-dir "$twentysix" \
    --patches 4096 --epochs 10 --lr 5e-4 --seed 14
continue_stage 2 grey bundled-grey-2 3 "${unet[@]}" --patch 96 --train-dir "$twentysix" \
    --patches 4096 --epochs 10 --lr 5e-4 --seed 14
continue_stage 2 colour bundled-colour-7 8 "${unet[@]}" --patch 96 \
    --patches 8192 --epochs 15 --lr 5e-4 --seed 15
