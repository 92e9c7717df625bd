#!/usr/bin/env bash
# The bundled RGB-D models with the estimator's current defaults on the README's two
# other-camera test sets (640x480, photo backgrounds; and with the degraded look), 100 objects
# each, masks; the seed-2000 figures with the same defaults come from
# `bash scripts/cse_box_check.sh test` (its min_box_cover 0.5 files).
# Usage: bash scripts/cse_defaults_now.sh [CATEGORY ...]   (default: all seven; two jobs at a time)
# Outputs: benchmarks/results/cse_defaults_<set>_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  cse_eval "$c" ood "benchmarks/results/cse_defaults_ood_${c}_cpu.json" > /dev/null &
  cse_eval "$c" ood_look "benchmarks/results/cse_defaults_ood_look_${c}_cpu.json" > /dev/null
  wait
done
