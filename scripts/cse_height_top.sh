#!/usr/bin/env bash
# Standing on the table: the height from the top (CseInferenceConfig.height_from_support). An
# object stood upright on the surface around its detection reaches from that surface to the
# top of its depth pixels (their 99th percentile of height), where the solve's per-axis scale
# comes out a few percent short; the view correction's size part leaves that height alone.
# The bundled models of the categories it applies to (not the laptop or the box, whose slabs
# and faces measure their own box), 100 objects per set, off (--set
# height_from_support=false) and at the defaults:
#   val:  the validation sets (scripts/cse_step_sets.sh val and val640)
#   test: the README's test sets (final, ood, ood_look), masks given, and seed 2000 with
#         box-only detections (--box-only; suffix _box)
# Usage: bash scripts/cse_height_top.sh val|test [CATEGORY ...]  (default: mug camera bottle
#        can bowl; two jobs at a time)
# Outputs: benchmarks/results/cse_height_top_<set>_{off,on}[_box]_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mode=${1:?usage: bash scripts/cse_height_top.sh val|test [CATEGORY ...]}
shift
cats=("$@")
[[ ${#cats[@]} -gt 0 ]] || cats=(mug camera bottle can bowl)
case $mode in
  val) sets=(val val640) ;;
  test) sets=(final ood ood_look) ;;
  *) echo "usage: bash scripts/cse_height_top.sh val|test [CATEGORY ...]" >&2; exit 2 ;;
esac
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  for set in "${sets[@]}"; do
    cse_off_on height_top height_from_support "$c" "$set" "" > /dev/null &
    [[ $(jobs -r | wc -l) -ge 2 ]] && wait -n
  done
  if [[ $mode == test ]]; then
    cse_off_on height_top height_from_support "$c" final _box --box-only > /dev/null &
    [[ $(jobs -r | wc -l) -ge 2 ]] && wait -n
  fi
done
wait
python -m benchmarks.cse_table benchmarks/results/cse_height_top_*_cpu.json
