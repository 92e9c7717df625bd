#!/usr/bin/env bash
# A body of revolution's width from its detection box (CseInferenceConfig.width_from_box,
# ros_pose_estimation/cse/revolution.py): the bundled bottle, can and bowl models with the step
# off and on (default).
#   val:  the validation sets of other instances (320x240, seed 1000), masks and box-only
#   test: the three test sets the README quotes (seed 2000, other camera, other look), masks,
#         and box-only on seed 2000
#   bags: the held-out recordings of scripts/cse_bn_adaptation.sh (box-only, as recorded)
# Usage: bash scripts/cse_width_from_box.sh val|test|bags [CATEGORY ...]  (default: bottle can
#        bowl; needs out/data/photos, made by scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_width_<set>_<setting>[_box]_<c>_cpu.json,
#          benchmarks/results/cse_width_bags_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_width_from_box.sh val|test|bags [CATEGORY ...]}
shift
cats=("${@:-bottle can bowl}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
both() {  # both C SET SUFFIX ARGS...: off and on
  cse_off_on width width_from_box "$@"
}
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  case $mode in
    val) both "$c" val "" & both "$c" val _box --box-only; wait ;;
    test)
      both "$c" final "" & both "$c" ood ""; wait
      both "$c" ood_look "" & both "$c" final _box --box-only; wait ;;
    bags) cse_bags_off_on width width_from_box "$c" ;;
    *) echo "unknown mode $mode (val test bags)" >&2; exit 2 ;;
  esac
done
