#!/usr/bin/env bash
# Does a pose-margin loss fix the RGB (NeMo) precision? (BENCHMARKS.md, "Where NeMo's rotation
# error comes from": refinement started at the truth walks ~8-12 deg away, because the loss
# scores nearby wrong rotations better than the truth.) Fine-tunings of the bundled model,
# identical but for --pose-margin-weight (offline_training/nemo/pose_margin.py), run side by
# side (one thread each); weight 0 is the control (the same extra steps without the term). Then
# all of them and the bundled model on the 200 out-of-distribution objects of
# scripts/nemo_pretrained_experiment.sh in one interleaved run, and the drift from the truth
# (benchmarks/nemo_truth_drift.py) on the first 100.
# Usage: bash scripts/nemo_margin_experiment.sh [CATEGORY] (default mug; needs the training and
# OOD data of scripts/nemo_pretrained_experiment.sh). STEPS (default 600), WEIGHTS (default
# "0 1 3"), LR (default 1e-4), EXTRA (more train-nemo options for every run).
# Outputs: out/runs/<c>_pm<w>/<c>.pt, benchmarks/results/nemo_margin_<c>_cpu.json,
# benchmarks/results/nemo_margin_drift_<c>_<tag>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
c=${1:-mug}
steps=${STEPS:-600} lr=${LR:-1e-4}
read -r -a weights <<< "${WEIGHTS:-0 1 3}"
read -r -a extra <<< "${EXTRA:-}"
mkdir -p out/logs benchmarks/results
pids=()
for wt in "${weights[@]}"; do
  tag="pm${wt/./}"
  [[ -f out/runs/${c}_${tag}/$c.pt ]] && continue
  train-nemo --data "out/data/${c}_train" --category "$c" --out "out/runs/${c}_${tag}" \
    --init-checkpoint "models/nemo/$c.pt" --pose-margin-weight "$wt" --steps "$steps" \
    "${NEMO_FINETUNE[@]}" --lr "$lr" --snapshot-every 200 "${extra[@]}" \
    > "out/logs/${c}_${tag}.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
runs=(--run "bundled=models/nemo/$c.pt:default")
for wt in "${weights[@]}"; do
  tag="pm${wt/./}"
  runs+=(--run "${tag}=out/runs/${c}_${tag}/$c.pt:default")
done
python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
  "${runs[@]}" --threads 1 --quiet --json "benchmarks/results/nemo_margin_${c}_cpu.json"
for wt in "${weights[@]}"; do
  tag="pm${wt/./}"
  python -m benchmarks.nemo_truth_drift --data "out/data/${c}_ood" --split test \
    --checkpoint "out/runs/${c}_${tag}/$c.pt" --max-objects 100 --threads 1 \
    --json "benchmarks/results/nemo_margin_drift_${c}_${tag}_cpu.json"
done
