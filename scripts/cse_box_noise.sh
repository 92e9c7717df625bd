#!/usr/bin/env bash
# A far box's top through the depth noise (CseInferenceConfig.box_noise, box_faces.NOISE_SPREAD):
# the depth noise measured over each box's detection (cse/depth_noise.py) lets the faces'
# spread be wider than the top's height over the surface by what the noise adds, and a box
# seen by its sides alone reaches to twice their median height. The bundled box model with the
# step off and at its default:
#   val:  the validation sets (scripts/cse_step_sets.sh val and val640, masks, and val640 with
#         box-only detections; 100 objects each)
#   test: the README's test sets (seed 2000, another camera, its other look), then the
#         README's figures again with the new default (scripts/eval_defaults.sh rgbd box,
#         scripts/cse_gravity.sh box final ood ood_look, scripts/cse_mask_spill.sh test box)
# Usage: bash scripts/cse_box_noise.sh val|test
# Outputs: benchmarks/results/cse_box_noise_<set>_{off,on}[_boxonly]_box_cpu.json and those of
#          the scripts named (test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mode=${1:?usage: bash scripts/cse_box_noise.sh val|test}
mkdir -p benchmarks/results
case $mode in
  val)
    cse_off_on box_noise box_noise box val "" &
    cse_off_on box_noise box_noise box val640 ""
    wait
    cse_off_on box_noise box_noise box val640 _boxonly --box-only
    ;;
  test)
    cse_off_on box_noise box_noise box final "" &
    cse_off_on box_noise box_noise box ood ""
    wait
    cse_off_on box_noise box_noise box ood_look ""
    bash scripts/eval_defaults.sh rgbd box
    bash scripts/cse_gravity.sh box final ood ood_look
    bash scripts/cse_mask_spill.sh test box
    ;;
  *) echo "usage: bash scripts/cse_box_noise.sh val|test" >&2; exit 2 ;;
esac
python -m benchmarks.cse_table benchmarks/results/cse_box_noise_*_box_cpu.json
