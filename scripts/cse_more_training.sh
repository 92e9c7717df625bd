#!/usr/bin/env bash
# A third training stage for the bundled RGB-D (CSE) models: from 1500 to 3000 steps the camera
# gained on every metric (BENCHMARKS.md: "training length is still a limit"). Per category:
# 1500 more steps from models/cse/<c>.pt (--init-checkpoint; the recipe of
# scripts/cse_bundled_models.sh, lr 1e-4, seed 2, one thread, the trainings side by side), the
# result exported with float16 weights like the bundled files, then evaluate-cse of the bundled
# model and of the new one on the same 100 objects of the seed-2000 test set.
# Usage: bash scripts/cse_more_training.sh CATEGORY ...   (e.g. mug camera laptop)
# TAG (default "third") names the stage, SEED (2) its data order: a later stage from the then
# bundled files is e.g. TAG=fourth SEED=3. DIVERSE=1 trains on more varied data instead: 120
# instances (seed 5; the default data has 40, seed 0) seen through a field of view drawn in
# 40..75 deg, every crop's look perturbed (train-cse --photometric), e.g.
# TAG=diverse SEED=5 DIVERSE=1 bash scripts/cse_more_training.sh camera mug.
# EXTRA adds train-cse options, e.g. EXTRA="--deform-lr-scale 1.0" (a stage that only differs
# from another by those options: compare the two TAGs).
# Outputs: out/runs/cse_<c>_<TAG>/<c>.pt (+ <c>_half.pt),
#          benchmarks/results/cse_<TAG>_<c>_cpu.json, cse_<TAG>_<c>_bundled_cpu.json,
#          cse_<TAG>_{ood,ood_look}_<c>_cpu.json (against cse_bundled_{ood,ood_look}_<c>_cpu.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
steps=${STEPS:-1500} tag=${TAG:-third} seed=${SEED:-2} diverse=${DIVERSE:-0}
mkdir -p out/logs benchmarks/results
extra=()
[[ $diverse == 1 ]] && extra=(--photometric)
read -r -a more <<< "${EXTRA:-}"
extra+=("${more[@]}")
data_of() {
  if [[ $diverse == 1 ]]; then
    if [[ $1 == mug || $1 == bottle ]]; then echo out/data/cse_train_mug_div; else echo "out/data/cse_train_$1_div"; fi
  elif [[ $1 == mug || $1 == bottle ]]; then echo out/data/cse_train; else echo "out/data/cse_train_$1"; fi
}
for c in "$@"; do  # data first (one at a time), as scripts/cse_bundled_models.sh makes it
  data=$(data_of "$c")
  if [[ ! -d $data/train && $diverse == 1 ]]; then
    cats=(--category "$c")
    [[ $c == mug || $c == bottle ]] && cats=(--category mug --category bottle)
    generate-dataset "${cats[@]}" --instances 120 --images 960 --views-per-layout 8 \
      --objects-per-image 1..2 --hfov 40..75 --out "$data" --seed 5 --split train --no-progress
  elif [[ ! -d $data/train ]]; then
    if [[ $c == mug || $c == bottle ]]; then
      generate-dataset --category mug --category bottle --instances 40 --images 960 \
        --views-per-layout 8 --objects-per-image 1..2 --out "$data" --seed 0 --split train \
        --no-progress
    else
      generate-dataset --category "$c" --instances 40 --images 480 --views-per-layout 8 \
        --objects-per-image 1..2 --out "$data" --seed 0 --split train --no-progress
    fi
  fi
  [[ -d out/data/${c}_rgbd_final/test ]] || generate-dataset --category "$c" --instances 10 \
    --images 150 --out "out/data/${c}_rgbd_final" --seed 2000 --split test --no-progress
done
for c in "$@"; do
  run=out/runs/cse_${c}_${tag}
  [[ -f $run/$c.pt ]] || train-cse --data "$(data_of "$c")" --category "$c" --out "$run" \
    --supervised --init-checkpoint "models/cse/$c.pt" --steps "$steps" --batch-size 4 --lr 1e-4 \
    --backbone efficientnet_lite0 --backbone-stages 3 --crop-size 128 --num-threads 1 \
    --num-workers 0 --seed "$seed" --checkpoint-every 100 --log-every 25 --no-progress \
    "${extra[@]}" > "out/logs/cse_${c}_${tag}.log" 2>&1 &
done
wait
for c in "$@"; do
  run=out/runs/cse_${c}_${tag}
  export-model "$run/$c.pt" "$run/${c}_half.pt" --half
  evaluate-cse --data "out/data/${c}_rgbd_final" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet --json "benchmarks/results/cse_${tag}_${c}_bundled_cpu.json"
  evaluate-cse --data "out/data/${c}_rgbd_final" --split test --checkpoint "$run/${c}_half.pt" \
    --max-objects 100 --threads 1 --quiet --json "benchmarks/results/cse_${tag}_${c}_cpu.json"
done
for c in "$@"; do  # and on the unseen camera / look sets of scripts/cse_ood_eval.sh, if made
  for set in ood ood_look; do
    [[ -d out/data/${c}_rgbd_${set}/test ]] || continue
    evaluate-cse --data "out/data/${c}_rgbd_${set}" --split test \
      --checkpoint "out/runs/cse_${c}_${tag}/${c}_half.pt" --max-objects 100 --threads 1 --quiet \
      --json "benchmarks/results/cse_${tag}_${set}_${c}_cpu.json"
  done
done
