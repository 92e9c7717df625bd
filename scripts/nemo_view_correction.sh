#!/usr/bin/env bash
# Viewpoint bias correction of the RGB (NeMo) models (ros_pose_estimation/core/view_correction.py).
# The models' rotation errors are systematic for a given viewpoint (BENCHMARKS.md: side views
# read too high, top-down ones too low, on their own training images too). Per category:
#   1. a calibration set: the training generator's settings, 50 other instances (seed 5000),
#      CAL_IMAGES (1500) images; labels from the data engine, no human label;
#   2. calibrate-nemo: the model's raw estimates on it -> the correction (kernel width by
#      cross-validation on that set), written with the model's weights to out/cal/<c>.pt;
#   3. on 200 objects of the out-of-distribution set of scripts/nemo_pretrained_experiment.sh
#      (never used for any choice): corrected vs raw (`default-raw`), interleaved; by viewing
#      elevation (benchmarks.nemo_elevation_bias); and corrected default vs corrected reference
#      schedule on the first REF_OBJECTS (60).
# Usage: bash scripts/nemo_view_correction.sh CATEGORY ...  (needs out/data/<c>_ood; SRC_DIR
# (models/nemo) holds the models to calibrate; the bundled ones already carry their
# correction, which calibrate-nemo ignores and replaces).
# Outputs: out/cal/<c>.pt (and out/cal/<c>_estimates.npz, the raw estimates: a rerun refits
# from them without estimating again), benchmarks/results/nemo_viewcorr_<c>{,_vs_reference}_cpu.json,
# nemo_viewcorr_cal_<c>_cpu.json (the fit), nemo_elevation_<c>_viewcorr_ood_cpu.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_sets.sh
source scripts/nemo_sets.sh
cal_images=${CAL_IMAGES:-1500} ref_objects=${REF_OBJECTS:-60} src_dir=${SRC_DIR:-models/nemo}
mkdir -p out/cal out/logs benchmarks/results
for c in "$@"; do
  nemo_cal_set "$c" "$cal_images"
  calibrate-nemo --checkpoint "$src_dir/$c.pt" --data "out/data/${c}_cal" --split val \
    --out "out/cal/$c.pt" --threads 1 --estimates "out/cal/${c}_estimates.npz" \
    --json "benchmarks/results/nemo_viewcorr_cal_${c}_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "corrected=out/cal/$c.pt:default" --run "raw=out/cal/$c.pt:default-raw" \
    --threads 1 --quiet --json "benchmarks/results/nemo_viewcorr_${c}_cpu.json"
  python -m benchmarks.paired_compare "benchmarks/results/nemo_viewcorr_${c}_cpu.json" \
    --pair corrected:raw
  python -m benchmarks.nemo_elevation_bias --data "out/data/${c}_ood" --split test \
    --checkpoint "out/cal/$c.pt" --max-objects 200 --threads 1 \
    --json "benchmarks/results/nemo_elevation_${c}_viewcorr_ood_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test \
    --max-objects "$ref_objects" --run "corrected=out/cal/$c.pt:default" \
    --run "corrected_reference=out/cal/$c.pt:reference" --threads 1 --quiet \
    --json "benchmarks/results/nemo_viewcorr_${c}_vs_reference_cpu.json"
done
