#!/usr/bin/env bash
# RGB models for rolled cameras without /tf: fine-tune a bundled model with a wide in-plane
# rotation augmentation (train-nemo --max-rotation DEG --p-rotate P: the crop turned about its
# centre, the label with it; the bundled models saw +-10 deg at p 0.5), recalibrate its view
# correction, and compare it with the bundled model on the out-of-distribution set (upright,
# 200 objects, interleaved) and on the same set turned by 0/20/35/60 deg (benchmarks.nemo_roll,
# plain and first-look runs).
# Usage: bash scripts/nemo_roll_training.sh CATEGORY ...  (out/data/<c>_{train,cal,ood} of
# scripts/nemo_pretrained_experiment.sh and scripts/nemo_view_correction.sh); STEPS (1000),
# ROT (60), P_ROT (0.7), MARGIN (0; the mug's bundled last stage used 1).
# Outputs: out/runs/<c>_roll/<c>.pt, benchmarks/results/nemo_rolltrain_<c>_cpu.json,
#          benchmarks/results/nemo_roll_<c>_rolltrain_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
steps=${STEPS:-1000} rot=${ROT:-60} p_rot=${P_ROT:-0.7} margin=${MARGIN:-0}
mkdir -p out/logs benchmarks/results
for c in "$@"; do
  run=out/runs/${c}_roll
  [[ -f $run/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" --out "$run" \
    --init-checkpoint "models/nemo/$c.pt" --pose-margin-weight "$margin" --steps "$steps" \
    "${NEMO_FINETUNE[@]}" --max-rotation "$rot" --p-rotate "$p_rot" \
    --calibrate-data "out/data/${c}_cal" --calibrate-split val > "out/logs/${c}_roll.log" 2>&1
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt:default" --run "roll=$run/$c.pt:default" --threads 1 \
    --quiet --json "benchmarks/results/nemo_rolltrain_${c}_cpu.json"
  python -m benchmarks.nemo_roll --data "out/data/${c}_ood" --split test --checkpoint "$run/$c.pt" \
    --rolls 0 20 35 60 --max-objects 100 --threads 1 --runs plain upright \
    --json "benchmarks/results/nemo_roll_${c}_rolltrain_cpu.json"
done
