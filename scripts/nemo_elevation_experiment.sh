#!/usr/bin/env bash
# Does training on a wider elevation range take away NeMo's pull towards middle elevations?
# (BENCHMARKS.md, "The error is at the extreme elevations": side views come out too high,
# top-down views too low, also on the training images; the data engine draws 10-80 deg.)
# Per category: the training data of scripts/nemo_pretrained_experiment.sh remade with the
# same instances, lights and cameras but elevations 0-90 deg (generate-dataset --elevation),
# then two fine-tunings of the bundled model side by side, identical but for the data (STEPS,
# default 500; the recipe of scripts/nemo_margin_experiment.sh, with the pose-margin weight of
# the model's last stage: 1 for the mug, else 0): "ctrl" on the original data, "el090" on the
# wide data. Then the bundled model and both on the 200 out-of-distribution objects (one
# interleaved run) and by elevation band (benchmarks/nemo_elevation_bias.py).
# Usage: bash scripts/nemo_elevation_experiment.sh [CATEGORY ...] (default: mug camera)
# Outputs: out/runs/<c>_{ctrl,el090}/<c>.pt, benchmarks/results/nemo_elevation_exp_<c>_cpu.json,
#          benchmarks/results/nemo_elevation_<c>_{ctrl,el090}_ood_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
categories=("${@:-mug camera}")
read -r -a categories <<< "${categories[*]}"
steps=${STEPS:-500}
mkdir -p out/logs benchmarks/results
for c in "${categories[@]}"; do
  [[ -d out/data/${c}_train_el090/train ]] || generate-dataset --category "$c" --instances 50 \
    --images 2000 --out "out/data/${c}_train_el090" --seed 0 --split train --hfov 40..75 \
    --fill 0.25..0.9 --elevation 0..90 --no-progress
done
pids=()
for c in "${categories[@]}"; do
  weight=0; [[ $c == mug ]] && weight=1
  for tag in ctrl el090; do
    data=out/data/${c}_train; [[ $tag == el090 ]] && data=out/data/${c}_train_el090
    [[ -f out/runs/${c}_${tag}/$c.pt ]] && continue
    train-nemo --data "$data" --category "$c" --out "out/runs/${c}_${tag}" \
      --init-checkpoint "models/nemo/$c.pt" --pose-margin-weight "$weight" --steps "$steps" \
      "${NEMO_FINETUNE[@]}" --snapshot-every 200 \
      > "out/logs/${c}_${tag}.log" 2>&1 &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p"; done
for c in "${categories[@]}"; do
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt:default" --run "ctrl=out/runs/${c}_ctrl/$c.pt:default" \
    --run "el090=out/runs/${c}_el090/$c.pt:default" --threads 1 --quiet \
    --json "benchmarks/results/nemo_elevation_exp_${c}_cpu.json"
  for tag in ctrl el090; do
    python -m benchmarks.nemo_elevation_bias --data "out/data/${c}_ood" \
      --checkpoint "out/runs/${c}_${tag}/$c.pt" --max-objects 200 --threads 1 \
      --json "benchmarks/results/nemo_elevation_${c}_${tag}_ood_cpu.json"
  done
done
