#!/usr/bin/env bash
# Issue #6: pose-train from unlabeled robot bags (pseudo-labels) vs the supervised upper bound.
#
#   scripts/bag_training_experiment.sh [OUT_DIR]   (default out/bag_training)
#
# 1. generate-bag: 3 training recordings of 3 mugs each (seeds 11-13, 9 instances) and one
#    held-out recording with other instances (seed 101); 30 s at 5 Hz, arm_sweep camera.
# 2. pose-train without labels and with --supervised (ground-truth poses: the upper bound),
#    both fine-tuning the bundled synthetic model models/nemo/mug.pt for STEPS steps, run side
#    by side with one thread each, evaluated on the held-out bag.
# 3. evaluate-nemo of the bundled model alone on the same held-out frames (the starting point).
# Every stage skips what is already there, so the script resumes after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
OUT=${1:-out/bag_training}
STEPS=${STEPS:-200}
mkdir -p "$OUT/bags" "$OUT/logs"
gen() {  # gen NAME SEED
  [ -f "$OUT/bags/$1/ground_truth.json" ] && return 0
  rm -rf "$OUT/bags/$1"
  python -m offline_training.synthetic.recording_cli --out "$OUT/bags/$1" --category mug \
    --objects 3 --duration 30 --rate 5 --seed "$2" --quiet
}
for s in 11 12 13; do gen "train_s$s" "$s"; done
gen heldout_s101 101
TRAIN=("$OUT/bags/train_s11" "$OUT/bags/train_s12" "$OUT/bags/train_s13")
common=(--category mug --steps "$STEPS" --seed 0 --init-checkpoint models/nemo/mug.pt
        --eval-bag "$OUT/bags/heldout_s101" --num-threads 1 --no-progress --cache "$OUT/cache")
# extraction first (shared cache), so the two runs do not extract the same bags concurrently
python -m offline_training.bags.cli extract "${TRAIN[@]}" "$OUT/bags/heldout_s101" \
  --cache "$OUT/cache" --ground-truth > "$OUT/logs/extract.log" 2>&1
( /usr/bin/time -v python -m offline_training.pose_train "${TRAIN[@]}" --out "$OUT/unsupervised" \
    "${common[@]}" > "$OUT/logs/unsupervised.log" 2>&1 ) &
( /usr/bin/time -v python -m offline_training.pose_train "${TRAIN[@]}" --out "$OUT/supervised" \
    --supervised "${common[@]}" > "$OUT/logs/supervised.log" 2>&1 ) &
wait
python -m offline_training.nemo.evaluate --data "$OUT/unsupervised/eval_data" --split test \
  --checkpoint models/nemo/mug.pt --json "$OUT/bundled_eval.json" --quiet --threads 1 \
  > "$OUT/logs/bundled_eval.log" 2>&1
for f in unsupervised supervised; do
  echo "== $f"; grep -A 12 '^device' "$OUT/logs/$f.log"; grep 'Elapsed' "$OUT/logs/$f.log"
done
echo "== bundled models/nemo/mug.pt (no fine-tuning)"; cat "$OUT/logs/bundled_eval.log"
