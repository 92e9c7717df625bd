#!/usr/bin/env bash
# Too little depth on the object: the pose from the image (PnP on the confident cells), scaled
# by the depth there is (CseInferenceConfig.image_pose, ros_pose_estimation/cse/sparse_depth.py):
# the bundled models with the step off and on.
#   test: the three test sets the README quotes (seed 2000, other camera, other look; masks, and
#         box-only on seed 2000), then the held-out recordings of scripts/cse_bn_adaptation.sh
#         (run that script first; skipped without them); only objects whose depth solve fails
#         can change
#   dark: seed 2000 with masks, each object keeping the depth of 10 %, 3 % and 1 % of its
#         pixels (evaluate-cse --object-depth-kept: a black or glossy object)
# Usage: bash scripts/cse_image_pose.sh test|dark [CATEGORY ...]   (default: all seven; two jobs
#        at a time; needs out/data/photos, made by scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_image_pose_<set>_<setting>_<c>_cpu.json (set final_dark<f> for
#          dark), benchmarks/results/cse_image_pose_bags_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_image_pose.sh test|dark [CATEGORY ...]}
shift
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  if [[ $mode == dark ]]; then
    cse_off_on image_pose image_pose "$c" final _dark0.1 --object-depth-kept 0.1 &
    cse_off_on image_pose image_pose "$c" final _dark0.03 --object-depth-kept 0.03
    wait
    cse_off_on image_pose image_pose "$c" final _dark0.01 --object-depth-kept 0.01
    continue
  fi
  cse_off_on image_pose image_pose "$c" final "" &
  cse_off_on image_pose image_pose "$c" final _box --box-only
  wait
  cse_off_on image_pose image_pose "$c" ood "" &
  cse_off_on image_pose image_pose "$c" ood_look ""
  wait
  if [[ -d out/cse_bags/$c/bags ]]; then
    cse_bags_off_on image_pose image_pose "$c"
  fi
done
