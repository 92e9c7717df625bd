#!/usr/bin/env bash
# Gravity for the RGB-D (CSE) models (CseInferenceConfig.stand_on_gravity): with the world's up
# in the camera (each image's camera pose here, /tf on a robot: the node's up_frame), every
# object whose solved z is within 15 deg of it ends stood upright on it, also where no surface
# was found around the detection or the plane found was not the table. Per category and set
# (scripts/cse_step_sets.sh: final = seed 2000, ood = another camera, ood_look = its other
# look), the bundled model on 100 objects with masks, without and with --gravity.
# SET "bags": the held-out recordings of scripts/cse_bn_adaptation.sh (every 3rd frame,
# box-only detections as recorded; run that script first), gravity from their /tf
# (evaluate_bag --gravity), with the paired bootstrap over object tracks.
# Usage: bash scripts/cse_gravity.sh CATEGORY SET [SET ...]  (two jobs at a time)
# Outputs: benchmarks/results/cse_gravity_<set>_{off,on}_<c>_cpu.json,
#          benchmarks/results/cse_gravity_bags_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
c=${1:?usage: bash scripts/cse_gravity.sh CATEGORY SET [SET ...]}
shift
mkdir -p benchmarks/results
bags() {  # off and on over the held-out recordings, then their paired comparison
  local out=out/cse_bags/$c
  cse_bags_eval "$c" "$out/gravity_off.json" | tail -n 2
  cse_bags_eval "$c" "$out/gravity_on.json" --gravity | tail -n 2
  python - "$out" "benchmarks/results/cse_gravity_bags_${c}_cpu.json" <<'PY'
import json, sys
from pathlib import Path
from benchmarks.bag_adaptation_table import figures, median_change
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
off, on = (json.loads((root / f"gravity_{s}.json").read_text()) for s in ("off", "on"))
result = {"recordings": "heldout_s121-s123, revisit_s221-s223 (every 3rd frame)",
          "off": figures(off), "on": figures(on), "change": median_change([off], [on])}
print(json.dumps(result))
dest.write_text(json.dumps(result, indent=1))
PY
}
for set in "$@"; do
  if [[ $set == bags ]]; then bags; continue; fi
  cse_set "$c" "$set"
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
  cse_eval "$c" "$set" "benchmarks/results/cse_gravity_${set}_off_${c}_cpu.json" > /dev/null &
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
  cse_eval "$c" "$set" "benchmarks/results/cse_gravity_${set}_on_${c}_cpu.json" --gravity \
    > /dev/null &
done
wait
python -m benchmarks.cse_table benchmarks/results/cse_gravity_*_o[nf]*_"${c}"_cpu.json
