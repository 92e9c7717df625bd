#!/usr/bin/env bash
# Does the RGB-D back end (confidence filter, RANSAC, ICP) or the correspondences limit a CSE
# model? Evaluates one checkpoint with several inference settings on the same objects.
# Usage: bash scripts/cse_inference_sweep.sh CHECKPOINT DATA [OBJECTS]   (e.g.
#   bash scripts/cse_inference_sweep.sh out/runs/cse_camera_sup_lite0/camera.pt \
#        out/data/camera_test 40); JSON per setting in out/eval/sweep_<name>_<setting>.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
ckpt=$1 data=$2 n=${3:-40}
name=$(basename "$(dirname "$ckpt")")
mkdir -p out/eval
declare -A settings=(
  [default]=""
  [conf0.3]="--set min_confidence=0.3"
  [conf0.7]="--set min_confidence=0.7"
  [icp0]="--set icp_steps=0"
  [icp10]="--set icp_steps=10"
  [inlier5mm]="--set inlier_threshold=0.005"
  [inlier2cm]="--set inlier_threshold=0.02"
  [ransac500]="--set ransac_iterations=500"
  [unweighted]="--set weight_by_confidence=false"
)
for s in default conf0.3 conf0.7 icp0 icp10 inlier5mm inlier2cm ransac500 unweighted; do
  # shellcheck disable=SC2086
  printf '%-11s ' "$s"; evaluate-cse --data "$data" --split test --checkpoint "$ckpt" \
    --max-objects "$n" --threads 1 --quiet ${settings[$s]} \
    --json "out/eval/sweep_${name}_$s.json" | sed -n 2p
done
