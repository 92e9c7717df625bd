#!/usr/bin/env bash
# Box-only detections with something in front of the object: the RGB-D estimator's depth
# layers (CseInferenceConfig.box_layers, box_layer_max_distortion; BENCHMARKS.md "Box-only
# detections behind an occluder"). The bundled models, box-only detections, 1 layer (the box
# centre's depth band: what the estimator did before) against LAYERS (3) layers:
#   part "val": the calibration sets (out/data/<c>_rgbd_cal, seed 5000; where the distortion
#     bound was chosen), 60 objects, with and without photo occluders;
#   part "test": the seed-2000 sets with and without photo occluders
#     (benchmarks/cse_occlusion.py --box-only, 100 objects), and the other camera unoccluded
#     (evaluate-cse --box-only on out/data/<c>_rgbd_ood, 100 objects: accuracy and latency).
# Usage: bash scripts/cse_box_layers.sh val|test CATEGORY ...
# Outputs: benchmarks/results/cse_layers_{val,test}_occlusionbox_<c>_L{1,3}_cpu.json,
#          benchmarks/results/cse_layers_test_oodbox_<c>_L{1,3}_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
part=${1:?usage: bash scripts/cse_box_layers.sh val|test CATEGORY ...}
shift
layers=${LAYERS:-3}
mkdir -p benchmarks/results
for c in "$@"; do
  for n in 1 "$layers"; do
    out=benchmarks/results/cse_layers_${part}
    if [[ $part == val ]]; then
      data=(--data "out/data/${c}_rgbd_cal" --split val --max-objects 60)
    else
      data=(--data "out/data/${c}_rgbd_final" --split test --max-objects 100)
    fi
    [[ -f ${out}_occlusionbox_${c}_L${n}_cpu.json ]] || python -m benchmarks.cse_occlusion \
      "${data[@]}" --checkpoint "models/cse/$c.pt" --photos out/data/photos --threads 1 \
      --box-only --set "box_layers=$n" --json "${out}_occlusionbox_${c}_L${n}_cpu.json"
    if [[ $part == test ]]; then
      [[ -f ${out}_oodbox_${c}_L${n}_cpu.json ]] || evaluate-cse \
        --data "out/data/${c}_rgbd_ood" --split test --checkpoint "models/cse/$c.pt" \
        --max-objects 100 --threads 1 --quiet --box-only --set "box_layers=$n" \
        --json "${out}_oodbox_${c}_L${n}_cpu.json"
    fi
  done
done
