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
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
wide=(--instances 10 --images 60 --split test --width 640 --height 480 --hfov 56.1
      --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
look=(--light-gain 0.35..0.8 --light-tint 0.25 --gamma 1.2 --motion-blur 0..3 --rgb-noise 5
      --jpeg-quality 50)
gen() {  # gen NAME ARGS...: generate out/data/laptop_rgbd_NAME once
  local name=$1; shift
  [[ -d out/data/laptop_rgbd_$name/test ]] || generate-dataset --category laptop "$@" \
    --out "out/data/laptop_rgbd_$name"
}
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 laptops of SET
  local set=$1 setting=$2; shift 2
  evaluate-cse --data "out/data/laptop_rgbd_$set" --split test --checkpoint models/cse/laptop.pt \
    --max-objects 100 --threads 1 --quiet "$@" \
    --json "benchmarks/results/cse_laptop_planes_${set}_${setting}_laptop_cpu.json"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  gen val --instances 10 --images 60 --seed 1000 --split test --no-progress
  gen val640 "${wide[@]}" --seed 1500
  for set in val val640; do
    run "$set" off --set laptop_planes=false
    run "$set" on
    run "$set" rotation --set laptop_box=false
    for th in 0.004 0.008; do
      run "$set" "threshold$th" --set laptop_box=false --set plane_threshold=$th
    done
  done
else
  gen final --instances 10 --images 150 --seed 2000 --split test --no-progress
  gen ood "${wide[@]}" --seed 3000
  gen ood_look "${wide[@]}" --seed 3000 "${look[@]}"
  for set in final ood ood_look; do
    run "$set" off --set laptop_planes=false
    run "$set" on
  done
  run final box_off --box-only --set laptop_planes=false
  run final box_on --box-only
fi
