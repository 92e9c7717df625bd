#!/usr/bin/env bash
# Close range: the RGB-D test sets keep objects 0.6-7 m away (fill 0.2-0.6 of a 640x480 image);
# a grasping robot's wrist camera sees them at 0.2-0.8 m. This set (seed 3500, 10 held-out
# instances, 40 images, 640x480, hfov 56.1 deg, photo backgrounds, the object filling
# 0.6-0.95 of the image) checks the bundled models there, masks given, the estimator's
# defaults, one thread.
# Usage: bash scripts/cse_near.sh [CATEGORY ...]  (default: all seven; two jobs at a time)
# Outputs: benchmarks/results/cse_near_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
cats=("$@")
[[ ${#cats[@]} -gt 0 ]] || cats=(mug camera bottle bowl can laptop box)
mkdir -p benchmarks/results
near() {
  local c=$1
  [[ -d out/data/${c}_rgbd_near/test ]] || generate-dataset --category "$c" --instances 10 \
    --images 40 --split test --width 640 --height 480 --hfov 56.1 --fill 0.6..0.95 \
    --backgrounds out/data/photos --seed 3500 --no-progress --out "out/data/${c}_rgbd_near" \
    > /dev/null
  evaluate-cse --data "out/data/${c}_rgbd_near" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet --json "benchmarks/results/cse_near_${c}_cpu.json" \
    | grep -E "^($c|  NOCS) "
}
for ((i = 0; i < ${#cats[@]}; i += 2)); do
  near "${cats[i]}" &
  [[ $((i + 1)) -lt ${#cats[@]} ]] && near "${cats[i + 1]}"
  wait
done
