#!/usr/bin/env bash
# Issue #12: does a neural mesh shaped like the category template (instead of NeMo's cuboid)
# sharpen the render-and-compare optimum? Per category: the bundled model's feature net with a
# new template mesh (train-nemo --init-feature-net-only --mesh template --mesh-margin 0,
# ~1000 vertices; the vertex features learnt anew), 800 steps of the fine-tuning recipe of
# scripts/nemo_finetune_experiment.sh at lr 2e-4, then the bundled and the new model on the same
# 200 out-of-distribution objects (benchmarks/results/nemo_template_<c>_cpu.json).
# Usage: bash scripts/nemo_template_experiment.sh [CATEGORY ...]   (default: mug)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p out/logs benchmarks/results
for c in "${@:-mug}"; do
  run=out/runs/nemo_${c}_template
  [[ -f $run/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" --out "$run" \
    --init-checkpoint "models/nemo/$c.pt" --init-feature-net-only --mesh template \
    --mesh-margin 0 --n-vertices 1000 --steps 800 --batch-size 16 --lr 2e-4 \
    --lr-schedule cosine --backbone-lr-scale 0.5 --frozen-stages 1 --backbone-stages 3 \
    --backbone efficientnet_lite0 --fuse-channels 64 --crop-size 128 --max-points 1024 \
    --num-threads 1 --num-workers 1 --seed 1 --log-every 25 --checkpoint-every 100 \
    --no-progress > "out/logs/nemo_${c}_template.log" 2>&1
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt:default" --run "template=$run/$c.pt:default" --threads 1 \
    --quiet --json "benchmarks/results/nemo_template_${c}_cpu.json"
done
