#!/usr/bin/env bash
# A box's rotation and extents from its flat faces in the depth image
# (CseInferenceConfig.box_faces, ros_pose_estimation/cse/box_faces.py): the bundled box model
# with the step off and on.
#   val:  two validation sets of other boxes, 320x240 (seed 1000) and 640x480 with photo
#         backgrounds (seed 1500, the settings of scripts/cse_ood_eval.sh)
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks,
#         and box-only on seed 2000
# Usage: bash scripts/cse_box_faces.sh val|test   (needs out/data/photos, made by
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_box_faces_<set>_<setting>_box_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_box_faces.sh val|test}
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 objects of SET
  local set=$1 setting=$2; shift 2
  cse_eval box "$set" "benchmarks/results/cse_box_faces_${set}_${setting}_box_cpu.json" "$@"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  for set in val val640; do
    run "$set" off --set box_faces=false
    run "$set" on
  done
else
  for set in final ood ood_look; do
    run "$set" off --set box_faces=false
    run "$set" on
  done
  run final box_off --box-only --set box_faces=false
  run final box_on --box-only
fi
