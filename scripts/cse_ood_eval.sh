#!/usr/bin/env bash
# The bundled RGB-D (CSE) models on data their training never saw (BENCHMARKS.md, "Another
# camera, distances and backgrounds" and "... and another look"), on a CPU:
#   ood:  10 unseen instances (seed 3000), 640x480 at hfov 56.1 deg (f ~ 600 px; training:
#         320x240), objects farther (fill 0.2..0.6), scikit-image photos as backgrounds;
#   look: the same plus dim and tinted light, another tone curve, motion blur, RGB noise and
#         JPEG (the look options of issue 16's target domain; depth keeps its sensor model).
# Usage: bash scripts/cse_ood_eval.sh [CATEGORY ...]  (default: the five bundled categories)
# Needs out/data/photos (scripts/nemo_pretrained_experiment.sh makes it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
categories=("${@:-bottle mug camera can laptop}")
read -r -a categories <<< "${categories[*]}"
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
ood=(--instances 10 --images 60 --seed 3000 --split test --width 640 --height 480 --hfov 56.1
     --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
look=("${CSE_BAG_LOOK[@]}")  # the other look (dim, tinted, blurred, noisy, JPEG)
mkdir -p benchmarks/results
for c in "${categories[@]}"; do
  [[ -d out/data/${c}_rgbd_ood/test ]] || generate-dataset --category "$c" "${ood[@]}" \
    --out "out/data/${c}_rgbd_ood"
  [[ -d out/data/${c}_rgbd_ood_look/test ]] || generate-dataset --category "$c" "${ood[@]}" \
    "${look[@]}" --out "out/data/${c}_rgbd_ood_look"
  for set in ood ood_look; do
    json=benchmarks/results/cse_bundled_${set}_${c}_cpu.json
    [[ -f $json ]] || evaluate-cse --data "out/data/${c}_rgbd_${set}" --split test \
      --checkpoint "models/cse/$c.pt" --max-objects 100 --threads 1 --quiet --json "$json"
  done
done
