#!/usr/bin/env bash
# The RGB-D models' view correction refitted with its size part (core/view_correction.py
# size_gain: one factor per object axis, the median of true / estimated extents) by today's
# estimator (the mask cleaning included), and whether to install it, per category:
#   1. the calibration set of scripts/cse_view_correction.sh (the CSE training generator's
#      settings, 50 other instances, seed 5000, 600 images, 320x240), made when missing;
#   2. calibrate-cse: the bundled model's raw estimates on it -> rotation, centre and size
#      parts (each kept only when it beats none by 3 % in cross-validation), written with the
#      model's own weights to out/cal_cse/<c>.pt (estimates cached in
#      out/cal_cse/<c>_estimates.npz: a rerun refits from them);
#   3. the bundled model and the refitted one on the validation sets (seed 1000 at 320x240,
#      seed 1500 at 640x480; scripts/cse_step_sets.sh), 100 objects each, exact masks;
#   4. with INSTALL=1 instead (after 1-3): the named categories' refitted files copied into
#      models/cse/ (chosen on step 3; the test sets are measured afterwards with
#      scripts/cse_gravity.sh).
# Usage: bash scripts/cse_size_correction.sh CATEGORY ...; then
#        INSTALL=1 bash scripts/cse_size_correction.sh CATEGORY ...
# Outputs: benchmarks/results/cse_sizecorr_cal_<c>_cpu.json (the fit),
#          benchmarks/results/cse_sizecorr_<set>_{bundled,refit}_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mkdir -p out/cal_cse benchmarks/results
out=benchmarks/results/cse_sizecorr
if [[ ${INSTALL:-0} == 1 ]]; then
  for c in "$@"; do
    cp "out/cal_cse/$c.pt" "models/cse/$c.pt"
    echo "installed out/cal_cse/$c.pt -> models/cse/$c.pt"
  done
  exit 0
fi
for c in "$@"; do
  [[ -d out/data/${c}_rgbd_cal/val ]] || generate-dataset --category "$c" --instances 50 \
    --images 600 --views-per-layout 8 --objects-per-image 1..2 --out "out/data/${c}_rgbd_cal" \
    --seed 5000 --split val --no-progress > /dev/null
  calibrate-cse --checkpoint "models/cse/$c.pt" --data "out/data/${c}_rgbd_cal" --split val \
    --out "out/cal_cse/$c.pt" --threads 1 --estimates "out/cal_cse/${c}_estimates.npz" \
    --json "${out}_cal_${c}_cpu.json"
  for set in val val640; do
    cse_set "$c" "$set"
    evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "models/cse/$c.pt" \
      --max-objects 100 --threads 1 --quiet --json "${out}_${set}_bundled_${c}_cpu.json" \
      > /dev/null &
    evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "out/cal_cse/$c.pt" \
      --max-objects 100 --threads 1 --quiet --json "${out}_${set}_refit_${c}_cpu.json" \
      > /dev/null
    wait
  done
done
