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
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
pair() {  # pair CATEGORY SET: off and on side by side
  local c=$1 set=$2
  cse_set "$c" "$set"  # once, before the two jobs
  local json=benchmarks/results/cse_upright_${set}
  cse_eval "$c" "$set" "${json}_off_${c}_cpu.json" --set upright_on_support=false \
    | grep -E "^$c|NOCS" | sed "s/^/$set off /" &
  cse_eval "$c" "$set" "${json}_on_${c}_cpu.json" | grep -E "^$c|NOCS" | sed "s/^/$set on /"
  wait
}
mkdir -p benchmarks/results
for c in "${categories[@]}"; do
  if [[ $mode == val ]]; then
    pair "$c" val
    if [[ $c == laptop ]]; then pair "$c" val640; fi
  else
    for set in final ood ood_look; do pair "$c" "$set"; done
  fi
done
