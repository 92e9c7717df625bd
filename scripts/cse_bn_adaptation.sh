#!/usr/bin/env bash
# Issue #14: adapting an RGB-D (CSE) model to the robot's recordings by re-estimating its batch
# norms' statistics on them (AdaBN: offline_training/bn_adapt.py, `adapt-bn`; no label, no
# gradient), against the synthetic-only model, on the recordings of
# scripts/cse_bag_adaptation.sh (same seeds and look: dim, tinted, blurred, noisy, JPEG 50).
#
#   bash scripts/cse_bn_adaptation.sh [CATEGORY ...]   (default: mug; out/cse_bags/<category>)
#
# 1. the recordings and the synthetic model's figures on them (RUNS=" " bash
#    scripts/cse_bag_adaptation.sh: no fine-tuning run);
# 2. adapt-bn on the three training recordings, every frame, the recordings' statistics alone
#    (bn100) and half and half with the model's (bn50);
# 3. each adapted model on the held-out recordings (s121; s122 + s123: other instances),
#    new recordings of the adapted objects (s221-s223) and the training recordings, every 3rd
#    frame; then the table with the pooled held-out change and its bootstrap interval
#    (benchmarks/bag_adaptation_table.py -> benchmarks/results/cse_bn_adaptation_<c>_cpu.json).
# Env: THREADS (1), EVERY (3), MIXES (default "1.0 0.5").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
threads=${THREADS:-1} every=${EVERY:-3}
read -r -a mixes <<< "${MIXES:-1.0 0.5}"
for c in "${@:-mug}"; do
  out=out/cse_bags/$c
  RUNS=" " bash scripts/cse_bag_adaptation.sh "$c"
  train=("$out/bags/train_s21" "$out/bags/train_s22" "$out/bags/train_s23")
  for mix in "${mixes[@]}"; do
    name=bn$(python -c "print(round(100 * float('$mix')))")
    mkdir -p "$out/$name"
    ckpt=$out/$name/$c.pt
    [[ -f $ckpt ]] || python -m offline_training.bn_adapt "${train[@]}" --checkpoint \
      "models/cse/$c.pt" --out "$ckpt" --mix "$mix" --cache "$out/cache" --threads "$threads"
    ev() {  # ev JSON BAG...: evaluate_bag of the adapted model
      local json=$1; shift
      [[ -f $json ]] || python -m offline_training.bags.evaluate_bag "$@" --checkpoint "$ckpt" \
        --method cse --every-nth "$every" --cache "$out/cache" --threads "$threads" \
        --json "$json" | tail -n 2
    }
    ev "$out/$name/heldout.json" "$out/bags/heldout_s121"
    [[ -f $out/$name/report.json ]] || python - "$out/$name" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])  # the table reads each run's held-out s121 figures from report.json
evaluation = json.loads((run / "heldout.json").read_text())
(run / "report.json").write_text(json.dumps({"method": "adapt-bn", "evaluation": evaluation}))
PY
    ev "$out/heldout_more_$name.json" "$out/bags/heldout_s122" "$out/bags/heldout_s123"
    ev "$out/revisit_$name.json" "$out/bags/revisit_s221" "$out/bags/revisit_s222" \
      "$out/bags/revisit_s223"
    ev "$out/train_bags_$name.json" "${train[@]}"
  done
  python -m benchmarks.bag_adaptation_table "$out" \
    --json "benchmarks/results/cse_bn_adaptation_${c}_cpu.json"
done
