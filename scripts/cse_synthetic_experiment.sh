#!/usr/bin/env bash
# Reproduces the RGB-D (CSE, paper 003) figures in BENCHMARKS.md on this CPU:
#   1. synthetic RGB-D *sequences* (data engine, views_per_layout 8): mugs and bottles, 40
#      training instances each, 960 images = 120 static arrangements x 8 camera views;
#      held-out test instances: the RGB experiment's test sets (seed 1000), generated if absent;
#   2. per category, the same trainer twice: self-supervised (no pose labels: masks, depth and
#      the camera motion of scene_camera.json only) and --supervised (labels on: upper bound);
#   3. evaluate-cse on the held-out instances: IoU25/50, 5deg2cm ... 10deg5cm, latency.
# Settings are sized for a shared 2-core CPU (half-width ResNet-18 from random init, 96 px
# crops, 200 steps of 4 frame pairs). Outputs go to out/.
# Environment: CSE_STEPS (default 200), CSE_TAG (suffix of the run folders, default none),
# CSE_ARGS (extra train-cse arguments, e.g. --centre-embeddings). Mugs and bottles share one
# training set (out/data/cse_train); any other category gets its own (out/data/cse_train_<c>,
# 40 instances, 480 images).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
categories=("${@:-mug bottle}")
read -r -a categories <<< "${categories[*]}"
steps=${CSE_STEPS:-200}
tag=${CSE_TAG:-}
read -r -a extra <<< "${CSE_ARGS:-}"
mkdir -p out/data out/runs out/eval
for c in "${categories[@]}"; do
  if [[ $c == mug || $c == bottle ]]; then
    data=out/data/cse_train
    [[ -d $data/train ]] || python -m offline_training.synthetic.cli \
      --category mug --category bottle --instances 40 --images 960 --views-per-layout 8 \
      --objects-per-image 1..2 --out "$data" --seed 0 --split train --no-progress
  else
    data=out/data/cse_train_$c
    [[ -d $data/train ]] || python -m offline_training.synthetic.cli --category "$c" \
      --instances 40 --images 480 --views-per-layout 8 --objects-per-image 1..2 --out "$data" \
      --seed 0 --split train --no-progress
  fi
  [[ -d out/data/${c}_test/test ]] || python -m offline_training.synthetic.cli --category "$c" \
    --instances 10 --images 200 --out "out/data/${c}_test" --seed 1000 --split test --no-progress
  for mode in selfsup sup; do
    flag=""
    [[ $mode == sup ]] && flag="--supervised"
    run=out/runs/cse_${c}_${mode}${tag}
    [[ -f $run/$c.pt ]] || python -m offline_training.cse.train_cli \
      --data "$data" --category "$c" --out "$run" $flag \
      --steps "$steps" --batch-size 4 --lr 5e-4 --backbone small --crop-size 96 \
      --num-threads 1 --num-workers 0 --seed 0 --checkpoint-every 25 --log-every 10 --no-progress \
      "${extra[@]}"
  done
done
for c in "${categories[@]}"; do
  for mode in selfsup sup; do
    python -m offline_training.cse.evaluate --data "out/data/${c}_test" --split test \
      --checkpoint "out/runs/cse_${c}_${mode}${tag}/$c.pt" --max-objects 100 --threads 1 \
      --json "out/eval/cse_${c}_${mode}${tag}.json" --quiet
  done
done
