#!/usr/bin/env bash
# The bundled models with the estimators' current defaults (view correction, upright looks) on
# the held-out sets the README quotes, CPU, one thread:
#   rgb:  evaluate-nemo, 200 objects of out/data/<c>_ood (scripts/nemo_pretrained_experiment.sh)
#   rgbd: evaluate-cse, 100 objects each of out/data/<c>_rgbd_{final,ood,ood_look}
#         (scripts/cse_view_correction.sh), the visible masks as detections.
#   bags: the RGB-D models on the six held-out recordings of scripts/cse_bn_adaptation.sh
#         (made where missing; every 3rd frame, box-only detections as recorded, no gravity)
# Usage: bash scripts/eval_defaults.sh rgb|rgbd|bags CATEGORY ...
# Outputs: benchmarks/results/defaults_nemo_ood_<c>_cpu.json,
#          benchmarks/results/defaults_cse_<set>_<c>_cpu.json,
#          benchmarks/results/defaults_cse_bags_<c>_cpu.json (figures; per object:
#          out/cse_bags/<c>/defaults.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/eval_defaults.sh rgb|rgbd|bags CATEGORY ...}
shift
mkdir -p benchmarks/results
# shellcheck source=scripts/cse_step_sets.sh
[[ $mode == bags ]] && source scripts/cse_step_sets.sh
for c in "$@"; do
  if [[ $mode == bags ]]; then
    cse_bags_eval "$c" "out/cse_bags/$c/defaults.json" | tail -n 1
    python - "out/cse_bags/$c/defaults.json" "benchmarks/results/defaults_cse_bags_${c}_cpu.json" <<'PY'
import json, sys
from benchmarks.bag_adaptation_table import figures
result = json.loads(open(sys.argv[1]).read())
out = {"recordings": "heldout_s121-s123, revisit_s221-s223 (every 3rd frame)",
       "figures": figures(result), "metrics": result["metrics"]}
open(sys.argv[2], "w").write(json.dumps(out, indent=1))
PY
  elif [[ $mode == rgb ]]; then
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
