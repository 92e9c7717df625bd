#!/usr/bin/env bash
# Issue #14: RGB-D (CSE) adaptation from unlabeled robot bags, against the synthetic-only model.
#
#   bash scripts/cse_bag_adaptation.sh [CATEGORY ...]   (default: mug; out/cse_bags/<category>)
#
# 1. generate-bag: 3 training recordings of 3 objects of the category each (seeds 21-23) and one
#    held-out recording of other instances (seed 121), 30 s at 5 Hz, arm-sweep camera, all with a
#    look the synthetic training data never saw (dim, tinted light, another tone curve, motion
#    blur, sensor noise, JPEG: offline_training/synthetic/look.py); depth as the sensor model
#    gives it (noise and holes).
# 2. the bundled synthetic model models/cse/<c>.pt on the held-out bag (the "before" row);
# 3. pose-train --method cse from the bundled model on the training bags, no human label (RUNS,
#    side by side, one thread each; each evaluated on the held-out bag with --eval-bag):
#    pseudo: --labels depth (default: depth + TF pseudo-labels on the tracks the labeller
#      accepts, self-supervised terms on all, upright prior from /tf);
#    selfsup: --labels none --gravity-weight 0 (paper 003's self-supervised terms only);
#    replay: pseudo with 50 % of every batch from the synthetic data the bundled model was last
#      trained on (--replay-data, exact labels through the same pseudo term), so that nine
#      recorded mugs do not make it forget the category; replay_photo: replay with
#      --photometric (colour, blur, noise, JPEG on every crop); replay80_photo: 80 % replay.
# 4. every model (and the bundled one) on the training recordings (the objects the robot
#    adapted to; their labels were never used, only the depth + TF pseudo-labels), on two more
#    held-out recordings of other instances (seeds 122, 123), and on new recordings of the
#    adapted objects (seeds 221-223, generate-bag --objects-seed 21-23: the same 9 mugs in
#    other arrangements, camera paths and lights; no frame of them was trained on).
# Env: STEPS (fine-tuning steps, 300), LR (1e-4), THREADS (1), EVERY (eval every n-th frame, 3),
# RUNS (default "pseudo selfsup"), REPLAY_DATA (default out/data/cse_train_mug_div for mug and
# bottle, else out/data/cse_train_<c>_div: the data of DIVERSE=1 scripts/cse_more_training.sh).
# Every stage skips what is already there; pose-train resumes an interrupted run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
steps=${STEPS:-300} lr=${LR:-1e-4} threads=${THREADS:-1} every=${EVERY:-3}
read -r -a runs <<< "${RUNS:-pseudo selfsup}"
for c in "${@:-mug}"; do
  out=out/cse_bags/$c
  mkdir -p "$out/bags" "$out/logs"
  gen() { cse_bag_gen "$c" "$@"; }  # gen NAME SEED [OBJECTS_SEED]
  for s in 21 22 23; do gen "train_s$s" "$s"; done
  gen heldout_s121 121
  train=("$out/bags/train_s21" "$out/bags/train_s22" "$out/bags/train_s23")
  held="$out/bags/heldout_s121"
  [[ -f $out/before.json ]] || python -m offline_training.bags.evaluate_bag "$held" \
    --checkpoint "models/cse/$c.pt" --method cse --every-nth "$every" --cache "$out/cache" \
    --threads "$threads" --json "$out/before.json" | tee "$out/logs/before.log"
  common=(--method cse --category "$c" --init-checkpoint "models/cse/$c.pt" --steps "$steps"
          --lr "$lr" --batch-size 6 --num-workers 0 --num-threads "$threads" --eval-bag "$held"
          --eval-every-nth "$every" --cache "$out/cache" --no-progress)
  # extraction first (shared cache), then the RUNS side by side, one thread each
  python -m offline_training.bags.cli extract "${train[@]}" "$held" --cache "$out/cache" \
    --ground-truth > "$out/logs/extract.log" 2>&1
  replay=${REPLAY_DATA:-out/data/cse_train_${c}_div}
  [[ $c == mug || $c == bottle ]] && replay=${REPLAY_DATA:-out/data/cse_train_mug_div}
  for run in "${runs[@]}"; do
    case $run in
      pseudo) extra=() ;;
      selfsup) extra=(--labels none --gravity-weight 0) ;;
      replay) extra=(--replay-data "$replay" --replay-fraction 0.5) ;;
      replay_photo) extra=(--replay-data "$replay" --replay-fraction 0.5 --photometric) ;;
      replay80_photo) extra=(--replay-data "$replay" --replay-fraction 0.8 --photometric) ;;
      *) echo "unknown run $run (pseudo selfsup replay replay_photo replay80_photo)" >&2
         exit 2 ;;
    esac
    [[ -f $out/$run/$c.pt ]] || python -m offline_training.pose_train "${train[@]}" \
      --out "$out/$run" "${common[@]}" "${extra[@]}" > "$out/logs/$run.log" 2>&1 &
  done
  wait
  for f in "${runs[@]}"; do echo "== $c $f"; tail -n 8 "$out/logs/$f.log"; done
  # every model on the training recordings (the objects adapted to; no label of them was used)
  # and on two more held-out recordings (seeds 122, 123: six more unseen instances)
  gen heldout_s122 122
  gen heldout_s123 123
  more=("$out/bags/heldout_s122" "$out/bags/heldout_s123")
  # and on new recordings of the adapted objects (seeds 221-223 with the objects of 21-23:
  # other arrangements, camera paths and lights; none of these frames was trained on)
  revisit=()
  for s in 21 22 23; do
    gen "revisit_s2$s" "2$s" "$s"
    revisit+=("$out/bags/revisit_s2$s")
  done
  for name in before "${runs[@]}"; do
    ckpt=$out/$name/$c.pt
    [[ $name == before ]] && ckpt=models/cse/$c.pt
    [[ -f $out/train_bags_$name.json ]] || python -m offline_training.bags.evaluate_bag \
      "${train[@]}" --checkpoint "$ckpt" --method cse --every-nth "$every" --cache "$out/cache" \
      --threads "$threads" --json "$out/train_bags_$name.json" | tee "$out/logs/train_bags_$name.log"
    [[ -f $out/heldout_more_$name.json ]] || python -m offline_training.bags.evaluate_bag \
      "${more[@]}" --checkpoint "$ckpt" --method cse --every-nth "$every" --cache "$out/cache" \
      --threads "$threads" --json "$out/heldout_more_$name.json" \
      | tee "$out/logs/heldout_more_$name.log"
    [[ -f $out/revisit_$name.json ]] || python -m offline_training.bags.evaluate_bag \
      "${revisit[@]}" --checkpoint "$ckpt" --method cse --every-nth "$every" --cache \
      "$out/cache" --threads "$threads" --json "$out/revisit_$name.json" \
      | tee "$out/logs/revisit_$name.log"
  done
done
