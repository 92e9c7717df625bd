#!/usr/bin/env bash
# CC3D with source replay (issue 16): a few settings chosen on a validation part of the target
# domain (seed 3500, 60 images, other instances; the held-out part of
# scripts/adaptation_experiment.sh is not looked at), then the best one re-run and scored on
# the held-out part. Needs what scripts/adaptation_experiment.sh makes (REPLAY=0.5 run first:
# out/data/mug_target, mug_target_heldout, mug_source).
# Usage: bash scripts/cc3d_replay_sweep.sh          (reports: out/runs/mug_cc3d_sweep_*/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_target_look.sh
source scripts/nemo_target_look.sh
look=("${NEMO_TARGET_LOOK[@]}")
[[ -d out/data/mug_target_val/test ]] || generate-dataset --category mug --instances 10 \
  --images 60 --out out/data/mug_target_val --seed 3500 --split test "${look[@]}"
base=(--method cc3d --checkpoint models/nemo/mug.pt --target out/data/mug_target
      --eval-max-objects 100 --threads 1 --rounds 2 --domain-weight 1.0
      --replay-data out/data/mug_source)
# name -> settings
declare -A runs=(
  [k100_s200_f05]="--top-k 100 --steps 200 --replay-fraction 0.5"
  [k100_s50_f05]="--top-k 100 --steps 50 --replay-fraction 0.5"
  [k200_s200_f05]="--top-k 200 --steps 200 --replay-fraction 0.5"
  [k100_s200_f08]="--top-k 100 --steps 200 --replay-fraction 0.8"
)
for name in k100_s200_f05 k100_s50_f05 k200_s200_f05 k100_s200_f08; do
  read -r -a extra <<< "${runs[$name]}"
  python -m offline_training.adapt.cli "${base[@]}" "${extra[@]}" \
    --heldout out/data/mug_target_val --out "out/runs/mug_cc3d_sweep_val_$name"
done
# the best by the validation part's median of the last round, scored on the held-out part
best=$(python - <<'PY'
import json
from pathlib import Path
scores = {}
for p in Path("out/runs").glob("mug_cc3d_sweep_val_*/report.json"):
    r = json.loads(p.read_text())
    scores[p.parent.name.removeprefix("mug_cc3d_sweep_val_")] = min(
        x["heldout"]["median_rot_deg"] for x in r["rounds"])
for k, v in sorted(scores.items(), key=lambda kv: kv[1]):
    print(f"{k} {v:.2f}", file=__import__("sys").stderr)
print(min(scores, key=scores.get))
PY
)
echo "best on validation: $best"
read -r -a extra <<< "${runs[$best]}"
python -m offline_training.adapt.cli "${base[@]}" "${extra[@]}" \
  --heldout out/data/mug_target_heldout --out "out/runs/mug_cc3d_sweep_heldout_$best"
