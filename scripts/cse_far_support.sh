#!/usr/bin/env bash
# A far table: the surface around a detection fitted in a band that widens with the depth's
# noise (CseInferenceConfig.support_max_threshold, ros_pose_estimation/cse/pixels.py
# support_plane): the bundled models with the fixed 6 mm band (0.006, the earlier behaviour)
# and with the band doubled up to 24 mm and 48 mm where no plane holds enough pixels.
#   val:  the validation sets of other instances, 320x240 (seed 1000) and 640x480 with photo
#         backgrounds and farther objects (seed 1500), masks; 0.006, 0.024, 0.048
#   test: the README's three test sets (seed 2000, other camera, other look), masks, and
#         seed 2000 box-only; 0.006 and 0.048
#   bags: the held-out recordings of scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every
#         3rd frame, box-only detections as recorded; run that script first); 0.006 and 0.048
# Usage: bash scripts/cse_far_support.sh val|test|bags [CATEGORY ...]   (default: all seven;
#        two jobs at a time)
# Outputs: benchmarks/results/cse_far_support_<set>_<band><suffix>_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_far_support.sh val|test|bags [CATEGORY ...]}
shift
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mkdir -p benchmarks/results
out=benchmarks/results/cse_far_support
run() {  # run C SET BAND [SUFFIX ARGS...]: cse_eval at BAND -> <out>_<SET>_<BAND><SUFFIX>_<C>
  local c=$1 set=$2 v=$3 suffix=${4:-}
  shift $(( $# < 4 ? $# : 4 ))
  cse_eval "$c" "$set" "${out}_${set}_${v}${suffix}_${c}_cpu.json" \
    --set "support_max_threshold=$v" "$@" > /dev/null
}
case $mode in
  val)
    for c in "${cats[@]}"; do
      for v in 0.006 0.024 0.048; do
        run "$c" val "$v" & run "$c" val640 "$v"; wait
      done
    done ;;
  test)
    for c in "${cats[@]}"; do
      for v in 0.006 0.048; do
        run "$c" final "$v" & run "$c" final "$v" _box --box-only; wait
        run "$c" ood "$v" & run "$c" ood_look "$v"; wait
      done
    done ;;
  bags)
    for c in "${cats[@]}"; do
      for v in 0.006 0.048; do
        cse_bags_eval "$c" "${out}_bags_${v}_${c}_cpu.json" --set "support_max_threshold=$v" \
          | tail -n 1
      done
    done ;;
  *) echo "usage: bash scripts/cse_far_support.sh val|test|bags [CATEGORY ...]" >&2; exit 2 ;;
esac
