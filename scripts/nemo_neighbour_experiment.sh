#!/usr/bin/env bash
# Does the contrastive loss's neighbour exclusion limit the RGB (NeMo) precision?
# (BENCHMARKS.md, "What limits the RGB models": the bundled mug is ~10 deg off even on its
# training images.) NeMo never uses vertices within 0.1 x the mesh scale of the positive as
# negatives; on the ~1000-vertex cuboid (7 mm spacing on a 115 mm mug) that leaves ~9 vertices,
# ~11 deg of arc at the rim, free to share one feature. Two fine-tunings of the bundled model,
# identical but for that radius, run side by side (one thread each):
#   nf010  --neighbour-fraction 0.10 (the control: same steps, published radius)
#   nf005  --neighbour-fraction 0.05 (only the vertex itself is excluded)
# then both and the bundled model on the 200 out-of-distribution objects of
# scripts/nemo_pretrained_experiment.sh, in one interleaved run.
# Usage: bash scripts/nemo_neighbour_experiment.sh [CATEGORY] (default mug; needs the training
# and OOD data of scripts/nemo_pretrained_experiment.sh). STEPS (default 600), FRACTIONS
# (default "0.10 0.05").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
c=${1:-mug}
steps=${STEPS:-600}
read -r -a fractions <<< "${FRACTIONS:-0.10 0.05}"
mkdir -p out/logs benchmarks/results
pids=()
for f in "${fractions[@]}"; do
  tag="nf${f/./}"
  [[ -f out/runs/${c}_${tag}/$c.pt ]] && continue
  train-nemo --data "out/data/${c}_train" --category "$c" --out "out/runs/${c}_${tag}" \
    --init-checkpoint "models/nemo/$c.pt" --neighbour-fraction "$f" --steps "$steps" \
    "${NEMO_FINETUNE[@]}" --snapshot-every 200 \
    > "out/logs/${c}_${tag}.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
runs=(--run "bundled=models/nemo/$c.pt:default")
for f in "${fractions[@]}"; do
  tag="nf${f/./}"
  runs+=(--run "${tag}=out/runs/${c}_${tag}/$c.pt:default")
done
python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
  "${runs[@]}" --threads 1 --quiet --json "benchmarks/results/nemo_neighbour_${c}_cpu.json"
