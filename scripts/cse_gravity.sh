#!/usr/bin/env bash
# Gravity for the RGB-D (CSE) models (CseInferenceConfig.stand_on_gravity): with the world's up
# in the camera (each image's camera pose here, /tf on a robot: the node's up_frame), every
# object whose solved z is within 15 deg of it ends stood upright on it, also where no surface
# was found around the detection or the plane found was not the table. Per category and set
# (scripts/cse_step_sets.sh: final = seed 2000, ood = another camera, ood_look = its other
# look), the bundled model on 100 objects with masks, without and with --gravity.
# Usage: bash scripts/cse_gravity.sh CATEGORY SET [SET ...]  (two jobs at a time)
# Outputs: benchmarks/results/cse_gravity_<set>_{off,on}_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
c=${1:?usage: bash scripts/cse_gravity.sh CATEGORY SET [SET ...]}
shift
mkdir -p benchmarks/results
for set in "$@"; do
  cse_set "$c" "$set"
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
  cse_eval "$c" "$set" "benchmarks/results/cse_gravity_${set}_off_${c}_cpu.json" > /dev/null &
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
  cse_eval "$c" "$set" "benchmarks/results/cse_gravity_${set}_on_${c}_cpu.json" --gravity \
    > /dev/null &
done
wait
python -m benchmarks.cse_table benchmarks/results/cse_gravity_*_"${c}"_cpu.json
