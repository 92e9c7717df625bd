#!/usr/bin/env bash
# The README's MAIN-JOB command. Sets up the environment when needed (idempotent), then plays
# the bundled demo bag (data/demo/demo_bag: mug, bottle, camera; 10 s at 10 Hz) into
# pose_estimation_node with the bundled models (config/pose.yaml), scores the published poses
# against the bag's ground truth, and writes out/demo/{overlay.mp4,overlay.png,results.json}.
#   bash scripts/demo.sh [--rate R] [--device cpu|cuda] [--out DIR] [-p name:=value ...]
# The data engine's own demo (synthetic dataset + recording) is
#   python -m offline_training.synthetic.demo
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
exec python -m ros_pose_estimation.tools.demo "$@"
