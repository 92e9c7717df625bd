#!/usr/bin/env bash
# Box-only detections beside a neighbour (CseInferenceConfig.box_depth_jump,
# cse/pixels.py split_at_depth_jumps): each depth layer of a box without a mask is cut where
# the depth steps between neighbouring pixels, and only the pieces that reach the box's
# centre are kept. The bundled models with the step off (box_depth_jump=0) and at its default,
# box-only detections, 100 objects per set, one thread, two jobs at a time:
#   val:  the validation sets (scripts/cse_step_sets.sh val and val640)
#   test: the README's test sets seed 2000 and another camera
#   bags: the six held-out recordings of scripts/cse_bn_adaptation.sh (made when missing;
#         every 3rd frame, box-only detections as recorded)
# Usage: bash scripts/cse_depth_jumps.sh val|test|bags [CATEGORY ...]  (default: all seven;
#        the mug, bowl and camera are not cut, DEPTH_JUMP_KEPT: their on and off are the same)
# Outputs: benchmarks/results/cse_depth_jump_<set>_{off,on}_boxonly_<c>_cpu.json,
#          benchmarks/results/cse_depth_jump_bags_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
usage="usage: bash scripts/cse_depth_jumps.sh val|test|bags [CATEGORY ...]"
mode=${1:?$usage}
shift
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
export CSE_OFF=0
mkdir -p benchmarks/results
two() {  # two C SET SET: both sets side by side
  cse_off_on depth_jump box_depth_jump "$1" "$2" _boxonly --box-only &
  cse_off_on depth_jump box_depth_jump "$1" "$3" _boxonly --box-only
  wait
}
for c in "${cats[@]}"; do
  case $mode in
    val) two "$c" val val640 ;;
    test) two "$c" final ood ;;
    bags) cse_bags_off_on depth_jump box_depth_jump "$c" ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
sets=(val val640)
[[ $mode == test ]] && sets=(final ood)
[[ $mode == bags ]] && exit 0
for c in "${cats[@]}"; do
  for s in "${sets[@]}"; do
    python -m benchmarks.cse_table benchmarks/results/cse_depth_jump_"${s}"_{off,on}_boxonly_"${c}"_cpu.json
  done
done
