#!/usr/bin/env bash
# The README's MAIN-JOB command. Sets up the environment when needed (idempotent), then runs
# the demo. Until the pose node lands, the demo is the synthetic data engine's: it writes a
# small BOP dataset and a robot-like rosbag2 recording to out/demo, summarises both and the
# bundled demo bag, and writes out/demo/overview.png.
#   bash scripts/demo.sh [--out DIR] [--seed N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
exec python -m offline_training.synthetic.demo "$@"
