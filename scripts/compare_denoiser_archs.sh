#!/usr/bin/env bash
# Denoiser architectures at an equal training budget: each network trains for the
# number of epochs (of 4,096 grey 40×40 patches, σ = 25) that fills BUDGET seconds at
# its own speed on this machine, measured by a short probe first, then denoises the 8
# held-out photos, all in batches of 32 (the example's default was 32 when these logs
# were made). The logs go to docs/denoiser-archs/; the table in the README is their
# "mean" rows with the training seconds.
#
#     bash scripts/compare_denoiser_archs.sh [BUDGET_SECONDS [NAME…]]   # default 180, all
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-180}
only=("${@:2}")
cargo build --release --example denoise
out=docs/denoiser-archs
mkdir -p "$out"
run() {
    local name=$1
    shift
    if ((${#only[@]})) && [[ ! " ${only[*]} " == *" $name "* ]]; then
        return
    fi
    # Probe: one epoch of 1,024 patches gives the training speed.
    local rate
    rate=$(./target/release/examples/denoise --batch 32 "$@" --epochs 1 --patches 1024 \
        --out "target/archs/$name-probe" 2>&1 | sed -n 's/^train: .*(\([0-9]*\) patches\/s.*/\1/p')
    local epochs=$(((budget * rate + 2048) / 4096))
    ((epochs < 1)) && epochs=1
    echo "$name: $rate patches/s in the probe, $epochs epochs for ${budget}s"
    ./target/release/examples/denoise --batch 32 "$@" --epochs "$epochs" --patches 4096 --seed 1 \
        --out "target/archs/$name" > "$out/$name.log" 2>&1
    grep -E "^(model|train|mean|inference)" "$out/$name.log"
}
run conv-w32-d8 --arch conv --width 32 --depth 8 --patch 40
run dncnn-w32-d8 --arch dncnn --width 32 --depth 8 --patch 40
run dncnn-bn-w32-d8 --arch dncnn-bn --width 32 --depth 8 --patch 40
run unet2-w32-d2 --arch unet --unet-levels 2 --width 32 --depth 2 --patch 40
# Three halvings need patch sides that are multiples of 8.
run unet3-w16-d2 --arch unet --unet-levels 3 --width 16 --depth 2 --patch 48
