#!/usr/bin/env bash
# A laptop's rotation from the planes of its base and screen in the depth image
# (CseInferenceConfig.laptop_planes, ros_pose_estimation/cse/laptop_planes.py): the bundled
# laptop model with the step off and on.
#   val:  chooses the plane threshold on two validation sets of other laptops, 320x240 (seed
#         1000) and 640x480 with photo backgrounds (seed 1500, the settings of
#         scripts/cse_ood_eval.sh)
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks,
#         and box-only on seed 2000
# Usage: bash scripts/cse_laptop_planes.sh val|test   (needs out/data/photos, made by
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_laptop_planes_<set>_<setting>_laptop_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_laptop_planes.sh val|test}
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 objects of SET
  local set=$1 setting=$2; shift 2
  cse_eval laptop "$set" "benchmarks/results/cse_laptop_planes_${set}_${setting}_laptop_cpu.json" "$@"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  for set in val val640; do
    run "$set" off --set laptop_planes=false
    run "$set" on
    run "$set" rotation --set laptop_box=false
    for th in 0.004 0.008; do
      run "$set" "threshold$th" --set laptop_box=false --set plane_threshold=$th
    done
  done
else
  for set in final ood ood_look; do
    run "$set" off --set laptop_planes=false
    run "$set" on
  done
  run final box_off --box-only --set laptop_planes=false
  run final box_on --box-only
fi
