#!/usr/bin/env bash
# A laptop whose slab is too far from the solved up axis, placed with the surface it stands
# on (CseInferenceConfig.laptop_on_surface, ros_pose_estimation/cse/laptop_planes.py step 5:
# a plane on the surface is the base; otherwise the largest plane is the screen alone, z the
# surface's normal, the hinge along the screen's horizontal line): the bundled laptop model
# with the step off and on (default).
#   val:  the validation sets of other instances (320x240, seed 1000; 640x480 with photo
#         backgrounds, seed 1500), masks, and box-only at 320x240
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks,
#         and box-only on seed 2000
#   bags: the held-out recordings of scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every
#         3rd frame, box-only detections as recorded; run that script first)
# Usage: bash scripts/cse_laptop_surface.sh val|test|bags   (two jobs at a time; needs
#        out/data/photos, made by scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_surface_<set>_<setting>_laptop_cpu.json,
#          benchmarks/results/cse_surface_bags_laptop_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_laptop_surface.sh val|test|bags}
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
both() {  # both SET SUFFIX ARGS...: off and on
  cse_off_on surface laptop_on_surface laptop "$@"
}
mkdir -p benchmarks/results
case $mode in
  val) both val "" & both val _box --box-only; wait; both val640 "" ;;
  test) both final "" & both ood ""; wait; both ood_look "" & both final _box --box-only; wait ;;
  bags) cse_bags_off_on surface laptop_on_surface laptop ;;
  *) echo "usage: bash scripts/cse_laptop_surface.sh val|test|bags" >&2; exit 2 ;;
esac
