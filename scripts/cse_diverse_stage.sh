#!/usr/bin/env bash
# A stage of the bundled RGB-D (CSE) model on instances no earlier stage saw, calibrated and
# compared against the bundled model on the same objects (the RGB-D counterpart of
# `DIVERSE=1 scripts/nemo_robust_stage.sh`). Per category:
#   1. data: 120 procedural instances drawn with seed DIVERSE_SEED (default 7; the bundled
#      models' stages used seeds 0 and 5), 960 images, the field of view drawn in 40..75 deg,
#      8 views per arrangement, 1-2 objects (the recipe of `DIVERSE=1
#      scripts/cse_more_training.sh`, new instances only);
#   2. train-cse STEPS (1500) more steps from models/cse/<c>.pt, supervised by the data
#      engine's labels, every crop's look perturbed (--photometric), lr 1e-4, one thread,
#      --per-axis-scale when the bundled model has it; exported with float16 weights and the
#      bundled model's inference temperature;
#   3. when the bundled model carries a view correction: calibrate-cse on the calibration set
#      of scripts/cse_view_correction.sh (seed 5000, 600 images, other instances), as it was
#      (the can and the box carry none: their correction did not pay);
#   4. evaluate-cse of the bundled and the new model, 100 objects per set, one thread: the
#      validation sets (val, val640 of scripts/cse_step_sets.sh: the choice is made on these)
#      and the README's test sets (final, final box-only, ood, ood_look).
# Usage: [DIVERSE_SEED=7] [STEPS=1500] [TAG=div7] bash scripts/cse_diverse_stage.sh CATEGORY ...
#        (the categories train side by side; out/data/photos from
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: out/runs/cse_<c>_<TAG>/<c>.pt, out/cal_cse_<TAG>/<c>.pt (float16, calibrated when due),
#          benchmarks/results/cse_<TAG>_<set>_{bundled,new}_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
dseed=${DIVERSE_SEED:-7} steps=${STEPS:-1500}
tag=${TAG:-div$dseed}
mkdir -p out/logs benchmarks/results "out/cal_cse_$tag"
bundled_option() {  # bundled_option C axes|tau|correction: --per-axis-scale / --inference-tau T /
  # "correction" when models/cse/<C>.pt has it
  python - "$1" "$2" <<'PY'
import sys
import torch
c, what = sys.argv[1:]
checkpoint = torch.load(f"models/cse/{c}.pt", map_location="cpu", weights_only=True)
config = checkpoint["config"]
if what == "correction" and checkpoint.get("view_correction") is not None:
    print("correction")
elif what == "axes" and config.get("per_axis_scale"):
    print("--per-axis-scale")
elif what == "tau" and config.get("inference_tau"):
    print(f"--inference-tau {config['inference_tau']}")
PY
}
for c in "$@"; do  # data first, one at a time
  data=out/data/cse_train_${c}_div$dseed
  [[ -d $data/train ]] || generate-dataset --category "$c" --instances 120 --images 960 \
    --views-per-layout 8 --objects-per-image 1..2 --hfov 40..75 --out "$data" --seed "$dseed" \
    --split train --no-progress
  [[ -d out/data/${c}_rgbd_cal/val ]] || generate-dataset --category "$c" --instances 50 \
    --images 600 --views-per-layout 8 --objects-per-image 1..2 --out "out/data/${c}_rgbd_cal" \
    --seed 5000 --split val --no-progress
  for set in val val640 final ood ood_look; do cse_set "$c" "$set"; done
done
for c in "$@"; do
  run=out/runs/cse_${c}_$tag
  read -r -a axes <<< "$(bundled_option "$c" axes)"
  [[ -f $run/$c.pt ]] || train-cse --data "out/data/cse_train_${c}_div$dseed" --category "$c" \
    --out "$run" --supervised --init-checkpoint "models/cse/$c.pt" --steps "$steps" \
    --batch-size 4 --lr 1e-4 --backbone efficientnet_lite0 --backbone-stages 3 --crop-size 128 \
    --num-threads 1 --num-workers 0 --seed "$dseed" --checkpoint-every 100 --log-every 25 \
    --no-progress --photometric "${axes[@]}" > "out/logs/cse_${c}_$tag.log" 2>&1 &
done
wait
for c in "$@"; do
  run=out/runs/cse_${c}_$tag
  read -r -a tau <<< "$(bundled_option "$c" tau)"
  [[ -f $run/${c}_half.pt ]] || export-model "$run/$c.pt" "$run/${c}_half.pt" --half "${tau[@]}"
  if [[ -f out/cal_cse_$tag/$c.pt ]]; then
    :
  elif [[ -n $(bundled_option "$c" correction) ]]; then
    calibrate-cse --checkpoint "$run/${c}_half.pt" --data "out/data/${c}_rgbd_cal" --split val \
      --out "out/cal_cse_$tag/$c.pt" --threads 1 --estimates "out/cal_cse_$tag/${c}_estimates.npz" \
      --json "benchmarks/results/cse_${tag}_cal_${c}_cpu.json" > /dev/null &
  else
    cp "$run/${c}_half.pt" "out/cal_cse_$tag/$c.pt"
  fi
done
wait
evaluate_pair() {  # evaluate_pair C SET SUFFIX ARGS...: bundled and new on one set
  local c=$1 set=$2 suffix=$3 which ck
  shift 3
  for which in bundled new; do
    ck=models/cse/$c.pt; [[ $which == new ]] && ck=out/cal_cse_$tag/$c.pt
    evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "$ck" \
      --max-objects 100 --threads 1 --quiet "$@" \
      --json "benchmarks/results/cse_${tag}_${set}${suffix}_${which}_${c}_cpu.json" > /dev/null
  done
}
for c in "$@"; do
  evaluate_pair "$c" val "" & evaluate_pair "$c" val640 ""; wait
  evaluate_pair "$c" final "" & evaluate_pair "$c" final _boxonly --box-only; wait
  evaluate_pair "$c" ood "" & evaluate_pair "$c" ood_look ""; wait
done
