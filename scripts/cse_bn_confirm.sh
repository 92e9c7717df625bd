#!/usr/bin/env bash
# Issue #14: a second look at an AdaBN gain (scripts/cse_bn_adaptation.sh) on recordings made
# after it was seen: two more held-out recordings of other instances (seeds 124, 125; the same
# look), the synthetic model and the bn50 / bn100 models of out/cse_bags/<c> on them (every 3rd
# frame), and the paired bootstrap over object tracks of benchmarks/bag_adaptation_table.py;
# then the synthetic and bn50 models on the six held-out recordings of the first table again,
# with the estimator's defaults of today ("held_out_now").
#   bash scripts/cse_bn_confirm.sh CATEGORY   (after scripts/cse_bn_adaptation.sh CATEGORY)
# Output: benchmarks/results/cse_bn_confirm_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
c=${1:?usage: bash scripts/cse_bn_confirm.sh CATEGORY}
out=out/cse_bags/$c
bags=()
for s in 124 125; do
  cse_bag_gen "$c" "confirm_s$s" "$s"
  bags+=("$out/bags/confirm_s$s")
done
held=("$out"/bags/heldout_s12{1,2,3} "$out"/bags/revisit_s22{1,2,3})
for m in before bn50; do
  ckpt=$out/$m/$c.pt
  [[ $m == before ]] && ckpt=models/cse/$c.pt
  [[ -f $out/now_$m.json ]] || python -m offline_training.bags.evaluate_bag "${held[@]}" \
    --checkpoint "$ckpt" --method cse --every-nth 3 --cache "$out/cache" --threads 1 \
    --json "$out/now_$m.json" | tail -n 2
done
for m in before bn50 bn100; do
  ckpt=$out/$m/$c.pt
  [[ $m == before ]] && ckpt=models/cse/$c.pt
  [[ -f $out/confirm_$m.json ]] || python -m offline_training.bags.evaluate_bag "${bags[@]}" \
    --checkpoint "$ckpt" --method cse --every-nth 3 --cache "$out/cache" --threads 1 \
    --json "$out/confirm_$m.json" | tail -n 2
done
python - "$out" "benchmarks/results/cse_bn_confirm_${c}_cpu.json" <<'PY'
import json, sys
from pathlib import Path
from benchmarks.bag_adaptation_table import figures, median_change
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
before = json.loads((root / "confirm_before.json").read_text())
result = {"recordings": ["confirm_s124", "confirm_s125"], "models": {}, "change": {}}
for name in ("before", "bn50", "bn100"):
    data = json.loads((root / f"confirm_{name}.json").read_text())
    result["models"][name] = figures(data)
    if name != "before":
        result["change"][name] = median_change([before], [data])
    print(name, result["models"][name], result["change"].get(name, ""))
now = {name: json.loads((root / f"now_{name}.json").read_text()) for name in ("before", "bn50")}
result["held_out_now"] = {"before": figures(now["before"]), "bn50": figures(now["bn50"]),
                          "change": median_change([now["before"]], [now["bn50"]])}
print("held out, today's defaults:", result["held_out_now"])
dest.write_text(json.dumps(result, indent=1))
PY
