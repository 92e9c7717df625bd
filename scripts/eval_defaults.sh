#!/usr/bin/env bash
# The bundled models with the estimators' current defaults (view correction, upright looks) on
# the held-out sets the README quotes, CPU, one thread:
#   rgb:  evaluate-nemo, 200 objects of out/data/<c>_ood (scripts/nemo_pretrained_experiment.sh)
#   rgbd: evaluate-cse, 100 objects each of out/data/<c>_rgbd_{final,ood,ood_look}
#         (scripts/cse_view_correction.sh), the visible masks as detections.
# Usage: bash scripts/eval_defaults.sh rgb|rgbd CATEGORY ...
# Outputs: benchmarks/results/defaults_nemo_ood_<c>_cpu.json,
#          benchmarks/results/defaults_cse_<set>_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/eval_defaults.sh rgb|rgbd CATEGORY ...}
shift
mkdir -p benchmarks/results
for c in "$@"; do
  if [[ $mode == rgb ]]; then
    evaluate-nemo --data "out/data/${c}_ood" --split test --checkpoint "models/nemo/$c.pt" \
      --preset default --max-objects 200 --threads 1 --quiet \
      --json "benchmarks/results/defaults_nemo_ood_${c}_cpu.json"
  else
    for set in final ood ood_look; do
      evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "models/cse/$c.pt" \
        --max-objects 100 --threads 1 --quiet --json "benchmarks/results/defaults_cse_${set}_${c}_cpu.json"
    done
  fi
done
