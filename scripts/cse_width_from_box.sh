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
run() {  # run C SET SETTING ARGS...: evaluate-cse on 100 objects of SET
  local c=$1 set=$2 setting=$3; shift 3
  cse_eval "$c" "$set" "benchmarks/results/cse_width_${set}_${setting}_${c}_cpu.json" "$@" \
    > /dev/null
}
both() {  # both C SET SUFFIX [ARGS...]: off and on
  local c=$1 set=$2 suffix=$3; shift 3
  run "$c" "$set" "off$suffix" --set width_from_box=false "$@"
  run "$c" "$set" "on$suffix" "$@"
}
mkdir -p benchmarks/results
for c in "${cats[@]}"; do
  case $mode in
    val) both "$c" val "" & both "$c" val _box --box-only; wait ;;
    test)
      both "$c" final "" & both "$c" ood ""; wait
      both "$c" ood_look "" & both "$c" final _box --box-only; wait ;;
    bags)
      out=out/cse_bags/$c
      for setting in off on; do
        extra=(); [[ $setting == off ]] && extra=(--set width_from_box=false)
        python -m offline_training.bags.evaluate_bag "$out"/bags/heldout_s12{1,2,3} \
          "$out"/bags/revisit_s22{1,2,3} --checkpoint "models/cse/$c.pt" --method cse \
          --every-nth 3 --cache "$out/cache" --threads 1 "${extra[@]}" \
          --json "$out/width_$setting.json" | tail -n 2
      done
      python - "$out" "benchmarks/results/cse_width_bags_${c}_cpu.json" <<'PY'
import json, sys
from pathlib import Path
from benchmarks.bag_adaptation_table import figures, median_change
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
off, on = (json.loads((root / f"width_{s}.json").read_text()) for s in ("off", "on"))
result = {"recordings": "heldout_s121-s123, revisit_s221-s223 (every 3rd frame)",
          "off": figures(off), "on": figures(on), "change": median_change([off], [on])}
print(json.dumps(result))
dest.write_text(json.dumps(result, indent=1))
PY
      ;;
    *) echo "unknown mode $mode (val test bags)" >&2; exit 2 ;;
  esac
done
