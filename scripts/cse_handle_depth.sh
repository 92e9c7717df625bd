#!/usr/bin/env bash
# The mug's azimuth from its handle in the depth image (CseInferenceConfig.handle_depth,
# ros_pose_estimation/cse/handle_depth.py): the bundled mug model with the step off and on.
#   val:  chooses the settings on two validation sets of other mugs, 320x240 (seed 1000, as
#         scripts/cse_inference_tau.sh) and 640x480 with photo backgrounds (seed 1500, the
#         settings of scripts/cse_ood_eval.sh): margin, pixels, window, minimum turn, sink
#   test: the three test sets the README quotes (seed 2000 of scripts/cse_bundled_models.sh,
#         other camera and other look of scripts/cse_ood_eval.sh), masks and box-only
# Usage: bash scripts/cse_handle_depth.sh val|test   (needs out/data/photos, made by
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_handle_depth_<set>_<setting>_mug_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_handle_depth.sh val|test}
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
wide=(--instances 10 --images 60 --split test --width 640 --height 480 --hfov 56.1
      --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
look=(--light-gain 0.35..0.8 --light-tint 0.25 --gamma 1.2 --motion-blur 0..3 --rgb-noise 5
      --jpeg-quality 50)
gen() {  # gen NAME ARGS...: generate out/data/mug_rgbd_NAME once
  local name=$1; shift
  [[ -d out/data/mug_rgbd_$name/test ]] || generate-dataset --category mug "$@" \
    --out "out/data/mug_rgbd_$name"
}
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 mugs of SET
  local set=$1 setting=$2; shift 2
  evaluate-cse --data "out/data/mug_rgbd_$set" --split test --checkpoint models/cse/mug.pt \
    --max-objects 100 --threads 1 --quiet "$@" \
    --json "benchmarks/results/cse_handle_depth_${set}_${setting}_mug_cpu.json"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  gen val --instances 10 --images 60 --seed 1000 --split test --no-progress
  gen val640 "${wide[@]}" --seed 1500
  for set in val val640; do
    run "$set" off --set handle_depth=false
    run "$set" on
    # the first sweep, made before the sink existed (sink 0), then the sink
    no_sink=(--set handle_depth_sink=0)
    for m in 0.15 0.4; do run "$set" "margin$m" "${no_sink[@]}" --set handle_depth_margin=$m; done
    for n in 4 16; do run "$set" "points$n" "${no_sink[@]}" --set handle_depth_min_points=$n; done
    for w in 60 90; do run "$set" "window$w" "${no_sink[@]}" --set handle_depth_window_deg=$w; done
    for d in 5 10 15; do run "$set" "turn$d" "${no_sink[@]}" --set handle_depth_min_turn_deg=$d; done
    for k in 0 0.15 0.2 0.3; do run "$set" "sink$k" --set handle_depth_sink=$k; done
    run "$set" box_off --box-only --set handle_depth=false
    run "$set" box_sink0 --box-only "${no_sink[@]}"
  done
else
  gen final --instances 10 --images 150 --seed 2000 --split test --no-progress
  gen ood "${wide[@]}" --seed 3000
  gen ood_look "${wide[@]}" --seed 3000 "${look[@]}"
  for set in final ood ood_look; do
    run "$set" off --set handle_depth=false
    run "$set" on
  done
  run final box_off --box-only --set handle_depth=false
  run final box_on --box-only
fi
