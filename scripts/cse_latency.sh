#!/usr/bin/env bash
# RGB-D (CSE) latency per object of the bundled models on this machine: evaluate-cse on 100
# objects of each category's seed-2000 test set (masks given; scripts/cse_step_sets.sh's
# "final", made when missing), one torch thread. Run it with nothing else on the machine: the
# figure is the median of the estimator's time per object (all of an image's objects are
# estimated in one call and the time shared), features, correspondences and solve included.
# Usage: bash scripts/cse_latency.sh [CATEGORY ...]  (default: all seven)
# Outputs: benchmarks/results/cse_latency_final_<c>_cpu.json (figures, stage times, device)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
(( $# )) || set -- bottle bowl can mug camera laptop box
mkdir -p benchmarks/results
for c in "$@"; do
  cse_set "$c" final
  evaluate-cse --data "out/data/${c}_rgbd_final" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet \
    --json "benchmarks/results/cse_latency_final_${c}_cpu.json" | tail -n 1
done
