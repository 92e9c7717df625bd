#!/usr/bin/env bash
# Nothing standing on a table reaches below it: an upright object's box cut at the support
# surface when its bottom lies below it (CseInferenceConfig.clip_to_support,
# ros_pose_estimation/cse/support.py clip_to_support): the bundled models with the step off and
# on (default).
#   val:  the validation sets of other instances (320x240, seed 1000; 640x480 with photo
#         backgrounds, seed 1500, where a category has one), masks and box-only (320x240)
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks,
#         and box-only on seed 2000
#   bags: the held-out recordings of scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every
#         3rd frame, box-only detections as recorded; run that script first)
# Usage: bash scripts/cse_clip_support.sh val|test|bags [CATEGORY ...]   (default: all seven; two
#        jobs at a time; needs out/data/photos, made by scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_clip_<set>_<setting>_<c>_cpu.json,
#          benchmarks/results/cse_clip_bags_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_clip_support.sh val|test|bags [CATEGORY ...]}
shift
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
both() {  # both C SET SUFFIX ARGS...: off and on
  cse_off_on clip clip_to_support "$@"
}
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  if [[ $mode == bags ]]; then
    cse_bags_off_on clip clip_to_support "$c"
  elif [[ $mode == val ]]; then
    both "$c" val "" &
    both "$c" val _box --box-only
    wait
    if [[ -d out/data/${c}_rgbd_val640/test || $c =~ ^(mug|camera|laptop|box)$ ]]; then
      both "$c" val640 ""
    fi
  else
    both "$c" final "" &
    both "$c" ood ""
    wait
    both "$c" ood_look "" &
    both "$c" final _box --box-only
    wait
  fi
done
