#!/usr/bin/env bash
# Reproduces the RGB (NeMo) figures in BENCHMARKS.md on this CPU:
#   1. synthetic BOP data: per category 50 training instances x 2000 images (seed 0) and
#      10 held-out instances x 200 images with other textures/backgrounds (seed 1000);
#   2. one model per category (half-width ResNet-18 from random init, crop 128, 1500 steps);
#   3. evaluation of the default and the reference (published) inference presets.
# Categories default to "mug camera"; pass others as arguments. Outputs go to out/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
categories=("${@:-mug camera}")
read -r -a categories <<< "${categories[*]}"
mkdir -p out/data out/runs out/eval
for c in "${categories[@]}"; do
  [[ -d out/data/${c}_train/train ]] || generate-dataset --category "$c" --instances 50 \
    --images 2000 --out "out/data/${c}_train" --seed 0 --split train --no-progress
  [[ -d out/data/${c}_test/test ]] || generate-dataset --category "$c" --instances 10 \
    --images 200 --out "out/data/${c}_test" --seed 1000 --split test --no-progress
  [[ -f out/runs/$c/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" \
    --out "out/runs/$c" --steps 1500 --batch-size 16 --lr 5e-4 --backbone small \
    --fuse-channels 64 --crop-size 128 --max-points 1024 --num-threads 1 --num-workers 1 \
    --seed 0 --checkpoint-every 100 --log-every 10 \
    --no-progress
done
# Default vs reference (published) preset on the held-out instances, interleaved in one run.
for c in "${categories[@]}"; do
  evaluate-nemo --data "out/data/${c}_test" --split test --checkpoint "out/runs/$c/$c.pt" \
    --preset default --preset reference --max-objects 60 --threads 1 \
    --json "out/eval/${c}.json" --quiet
done
