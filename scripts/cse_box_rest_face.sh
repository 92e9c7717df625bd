#!/usr/bin/env bash
# A box rests on any face: its axis nearest the support surface's normal becomes z
# (CseInferenceConfig.box_rest_face, ros_pose_estimation/cse/support.py rest_axis_up): the
# bundled box model with the step off and at 15, 30 and 45 deg (val), off and at the default
# (test).
#   val:  two validation sets of other boxes, 320x240 (seed 1000) and 640x480 with photo
#         backgrounds (seed 1500)
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks
# Usage: bash scripts/cse_box_rest_face.sh val|test   (needs out/data/photos, made by
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_box_rest_<set>_<setting>_box_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_box_rest_face.sh val|test}
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 objects of SET
  local set=$1 setting=$2; shift 2
  cse_eval box "$set" "benchmarks/results/cse_box_rest_${set}_${setting}_box_cpu.json" "$@"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  for set in val val640; do
    run "$set" off --set box_rest_face=false
    for deg in 15 30 45; do run "$set" "deg$deg" --set box_rest_face_deg=$deg; done
  done
else
  for set in final ood ood_look; do
    run "$set" off --set box_rest_face=false
    run "$set" on
  done
fi
