#!/usr/bin/env bash
# Viewpoint bias correction of the RGB-D (CSE) models (ros_pose_estimation/core/view_correction.py):
# rotation and box centre. Per category:
#   1. a calibration set: the CSE training generator's settings (8 views per arrangement, 1-2
#      objects, 320x240), 50 other instances (seed 5000), 600 images; free labels;
#   2. calibrate-cse: the bundled model's raw estimates on it (the visible masks as detections)
#      -> the correction (kernel widths by cross-validation on that set), written with the
#      model's weights to out/cal_cse/<c>.pt;
#   3. the correction off and on, 100 objects per test set (no choice is made on them): seed
#      2000 (10 other instances, the training camera), the other camera and the other look of
#      scripts/cse_ood_eval.sh; with masks, and box-only on seed 2000 and the other camera.
#   4. INSTALL=1: the same fit (from the cached estimates) written into SRC_DIR/<c>.pt, the
#      file's own float16 weights and meta kept (how the bundled models got theirs).
# Usage: bash scripts/cse_view_correction.sh CATEGORY ...  (SRC_DIR (models/cse) holds the
# models to calibrate; a correction they already carry is ignored and replaced; out/data/photos
# from scripts/nemo_pretrained_experiment.sh).
# Outputs: out/cal_cse/<c>.pt, out/cal_cse/<c>_estimates.npz (a rerun refits from them),
#          benchmarks/results/cse_viewcorr_cal_<c>_cpu.json (the fit),
#          benchmarks/results/cse_viewcorr_<set>{,box}_<c>_{off,on}_cpu.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
src_dir=${SRC_DIR:-models/cse}
ood=(--instances 10 --images 60 --seed 3000 --split test --width 640 --height 480 --hfov 56.1
     --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
look=("${CSE_BAG_LOOK[@]}")  # the other look (dim, tinted, blurred, noisy, JPEG)
mkdir -p out/cal_cse benchmarks/results
for c in "$@"; do
  [[ -d out/data/${c}_rgbd_cal/val ]] || generate-dataset --category "$c" --instances 50 \
    --images 600 --views-per-layout 8 --objects-per-image 1..2 --out "out/data/${c}_rgbd_cal" \
    --seed 5000 --split val --no-progress
  [[ -d out/data/${c}_rgbd_final/test ]] || generate-dataset --category "$c" --instances 10 \
    --images 150 --out "out/data/${c}_rgbd_final" --seed 2000 --split test --no-progress
  [[ -d out/data/${c}_rgbd_ood/test ]] || generate-dataset --category "$c" "${ood[@]}" \
    --out "out/data/${c}_rgbd_ood"
  [[ -d out/data/${c}_rgbd_ood_look/test ]] || generate-dataset --category "$c" "${ood[@]}" \
    "${look[@]}" --out "out/data/${c}_rgbd_ood_look"
  calibrate-cse --checkpoint "$src_dir/$c.pt" --data "out/data/${c}_rgbd_cal" --split val \
    --out "out/cal_cse/$c.pt" --threads 1 --estimates "out/cal_cse/${c}_estimates.npz" \
    --json "benchmarks/results/cse_viewcorr_cal_${c}_cpu.json"
  for set in final ood ood_look; do
    for box in "" box; do
      [[ -n $box && $set == ood_look ]] && continue
      opt=(); [[ -n $box ]] && opt=(--box-only)
      for mode in off on; do
        json=benchmarks/results/cse_viewcorr_${set}${box}_${c}_${mode}_cpu.json
        flag=false; [[ $mode == on ]] && flag=true
        [[ -f $json ]] || evaluate-cse --data "out/data/${c}_rgbd_$set" --split test \
          --checkpoint "out/cal_cse/$c.pt" --max-objects 100 --threads 1 --quiet \
          --json "$json" "${opt[@]}" --set "view_correction=$flag"
      done
    done
  done
  if [[ ${INSTALL:-0} == 1 ]]; then
    calibrate-cse --checkpoint "$src_dir/$c.pt" --data "out/data/${c}_rgbd_cal" --split val \
      --out "$src_dir/$c.pt" --threads 1 --estimates "out/cal_cse/${c}_estimates.npz"
  fi
done
