#!/usr/bin/env bash
# Objects standing on a surface (CseInferenceConfig.upright_on_support,
# ros_pose_estimation/cse/support.py): the bundled RGB-D models with the step off and on.
#   val:  validation sets of other instances, 320x240 (seed 1000; the laptop also 640x480 with
#         photo backgrounds, seed 1500)
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks
# Usage: bash scripts/cse_upright_support.sh val|test [CATEGORY ...]   (default: all seven;
#        needs out/data/photos, made by scripts/nemo_pretrained_experiment.sh). Two jobs at a time.
# Outputs: benchmarks/results/cse_upright_<set>_{off,on}_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_upright_support.sh val|test [CATEGORY ...]}
shift
categories=("${@:-mug camera bottle bowl can laptop box}")
read -r -a categories <<< "${categories[*]}"
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
wide=(--instances 10 --images 60 --split test --width 640 --height 480 --hfov 56.1
      --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
look=(--light-gain 0.35..0.8 --light-tint 0.25 --gamma 1.2 --motion-blur 0..3 --rgb-noise 5
      --jpeg-quality 50)
gen() {  # gen CATEGORY NAME ARGS...: generate out/data/<c>_rgbd_NAME once
  local c=$1 name=$2; shift 2
  [[ -d out/data/${c}_rgbd_$name/test ]] || generate-dataset --category "$c" "$@" \
    --out "out/data/${c}_rgbd_$name" > /dev/null
}
run() {  # run CATEGORY SET SETTING ARGS...: evaluate-cse on 100 objects
  local c=$1 set=$2 setting=$3; shift 3
  evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet "$@" \
    --json "benchmarks/results/cse_upright_${set}_${setting}_${c}_cpu.json" \
    | grep -E "^$c|NOCS" | sed "s/^/$set $setting /"
}
pair() {  # pair CATEGORY SET: off and on side by side
  run "$1" "$2" off --set upright_on_support=false &
  run "$1" "$2" on
  wait
}
mkdir -p benchmarks/results
for c in "${categories[@]}"; do
  if [[ $mode == val ]]; then
    gen "$c" val --instances 10 --images 60 --seed 1000 --split test --no-progress
    pair "$c" val
    if [[ $c == laptop ]]; then
      gen "$c" val640 "${wide[@]}" --seed 1500
      pair "$c" val640
    fi
  else
    gen "$c" final --instances 10 --images 150 --seed 2000 --split test --no-progress
    gen "$c" ood "${wide[@]}" --seed 3000
    gen "$c" ood_look "${wide[@]}" --seed 3000 "${look[@]}"
    for set in final ood ood_look; do pair "$c" "$set"; done
  fi
done
