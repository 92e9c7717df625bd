#!/usr/bin/env bash
# Regenerates the bundled demo bag data/demo/demo_bag (deterministic for a given seed):
# a mug, a bottle and a camera on a table, seen by a wrist camera sweeping an arc for 10 s at
# 10 Hz (320x240 rgb8, 16UC1 depth with sensor noise and holes, 2D detections, /tf at 30 Hz,
# ground truth on /ground_truth/objects and in ground_truth.json), zstd-compressed MCAP.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
rm -rf data/demo/demo_bag
mkdir -p data/demo
generate-bag --out data/demo/demo_bag --category mug --category bottle --category camera \
  --objects 3 --trajectory arm_sweep --duration 10 --rate 10 --tf-rate 30 \
  --width 320 --height 240 --noise depth --depth-encoding 16UC1 --compress file \
  --storage mcap --seed "${1:-3}"
