#!/usr/bin/env bash
# Issue #16 side by side on one target: CC3D, TF consensus (RGB only), the two combined, and
# the supervised bound, all in adapt-nemo's shared loop (CPU).
#   1. the target domain of scripts/adaptation_experiment.sh (640x480, photo backgrounds, dim
#      coloured light, gamma, motion blur, noise, JPEG 35), its training part recorded as a
#      robot would: sequences of VIEWS (10) views of each static arrangement with the camera
#      pose of every image (what /tf gives; seed 2500, 150 images; unlabeled: boxes, masks and
#      camera poses only); held-out: out/data/<c>_target_heldout (seed 3000, other instances);
#   2. from the bundled model (START; the figures in BENCHMARKS.md started from the mug model
#      of commit 656839e), ROUNDS (2) rounds of 200 steps each of
#      cc3d (top 100 by Eq. 6), tf-consensus (every accepted track's consensus carried into
#      all its frames), combined (consensus where a track agrees, CC3D's top 100 elsewhere,
#      CC3D's loss) and the supervised bound (the part's ground truth, same rounds), each
#      with source replay REPLAY (0.8, the setting scripts/cc3d_replay_sweep.sh chose on a
#      validation part) from out/data/<c>_source;
#   3. NVSM (paper 002) from ANCHORS ("7 20") annotated objects of the training part, same
#      rounds and replay;
#   reports: out/runs/<c>_seq_{cc3d,tf_consensus,combined,supervised,nvsm_N}/report.json; then
#   every checkpoint on all held-out objects: benchmarks/results/tf_adaptation_<c>_cpu.json.
# Usage: bash scripts/tf_adaptation_experiment.sh [CATEGORY]  (default mug; needs out/data/photos
# and the data of scripts/adaptation_experiment.sh with REPLAY set)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
c=${1:-mug}
views=${VIEWS:-10} rounds=${ROUNDS:-2} replay=${REPLAY:-0.8}
# shellcheck source=scripts/nemo_target_look.sh
source scripts/nemo_target_look.sh
look=("${NEMO_TARGET_LOOK[@]}")
[[ -d out/data/${c}_target_seq/train ]] || generate-dataset --category "$c" --instances 10 \
  --images 150 --views-per-layout "$views" --out "out/data/${c}_target_seq" --seed 2500 \
  --split train "${look[@]}"
for d in "out/data/${c}_target_heldout/test" "out/data/${c}_source/train"; do
  [[ -d $d ]] || { echo "$d missing: run REPLAY=0.5 bash scripts/adaptation_experiment.sh $c" >&2; exit 2; }
done
start=${START:-models/nemo/$c.pt}
common=(--checkpoint "$start" --target "out/data/${c}_target_seq"
        --heldout "out/data/${c}_target_heldout" --steps 200 --eval-max-objects 100 --threads 1
        --replay-data "out/data/${c}_source" --replay-fraction "$replay")
mkdir -p out/logs
run() {  # name, adapt-nemo arguments...
  local name=$1; shift
  python -m offline_training.adapt.cli "${common[@]}" "$@" --out "out/runs/${c}_seq_$name" \
    > "out/logs/${c}_seq_$name.log" 2>&1
}
run cc3d --method cc3d --rounds "$rounds" --top-k 100 &
run tf_consensus --method tf-consensus --views-per-layout "$views" --rounds "$rounds" &
wait
run combined --method combined --views-per-layout "$views" --rounds "$rounds" --top-k 100 &
run supervised --method supervised --rounds "$rounds" &
wait
python - "$c" <<'PY'
import json, sys
c = sys.argv[1]
print(f"{'run':28s} {'labels':>6s} {'label acc/med (kept)':>22s} {'per-frame':>16s} "
      f"{'held-out Acc@pi/6':>18s} {'median':>7s}")
for name in ("cc3d", "tf_consensus", "combined", "supervised"):
    r = json.load(open(f"out/runs/{c}_seq_{name}/report.json"))
    if name == "cc3d":
        b = r["before"]["heldout"]
        print(f"{'before':28s} {'':>6s} {'':>22s} {'':>16s} {b['acc_pi_6']:18.3f} "
              f"{b['median_rot_deg']:7.1f}")
    for rd in r["rounds"]:
        lab, h = rd["labels"], rd["heldout"]
        acc = lab.get("accuracy_kept") or {}
        pf = lab.get("accuracy_kept_per_frame") or {}
        a = f"{acc['acc_pi_6']:.2f}/{acc['median_deg']:.1f}" if acc else "-"
        p = f"{pf['acc_pi_6']:.2f}/{pf['median_deg']:.1f}" if pf else "-"
        print(f"{name + ' round ' + str(rd['round']):28s} {lab['kept']:6d} {a:>22s} {p:>16s} "
              f"{h['acc_pi_6']:18.3f} {h['median_rot_deg']:7.1f}")
PY
# NVSM few-shot on the same target: ANCHORS (default "7 20") annotated objects drawn from the
# training part (seed 0, nested), same rounds, steps and replay
names=(cc3d tf_consensus combined supervised)
for n in ${ANCHORS-7 20}; do
  [[ -f out/runs/${c}_seq_anchors_$n.json ]] || python -m offline_training.adapt.anchors \
    --target "out/data/${c}_target_seq" --n "$n" --seed 0 --category "$c" \
    --out "out/runs/${c}_seq_anchors_$n.json"
  run "nvsm_$n" --method nvsm --anchors "out/runs/${c}_seq_anchors_$n.json" --rounds "$rounds" \
    --top-k 100 --threshold 0.8 --radius 30 &
  names+=("nvsm_$n")
done
wait
# every checkpoint again on all held-out objects (the rounds above evaluate the first 100)
runs=(--run "before=$start:default")
for name in "${names[@]}"; do
  for r in $(seq 1 "$rounds"); do
    runs+=(--run "${name}_r$r=out/runs/${c}_seq_$name/round_0$r/train/$c.pt:default")
  done
done
python -m benchmarks.nemo_compare --data "out/data/${c}_target_heldout" --split test \
  --max-objects 1000 "${runs[@]}" --threads 1 --quiet \
  --json "benchmarks/results/tf_adaptation_${c}_cpu.json"
