#!/usr/bin/env bash
# The part that fixes the frame, fitted after the rigid solve (ros_pose_estimation/cse/parts.py):
# the mug's azimuth from its handle cells (CseInferenceConfig.handle_azimuth,
# handle_min_cells), the laptop's pitch from its base cells (base_pitch). The bundled model with
# the step off and on, 100 objects per set, one thread, with masks and box-only (--box-only).
# Part "val": the validation set (10 other instances, seed 1000; scripts/cse_inference_tau.sh
# makes it): mug off and at handle_min_cells 1, 2, 3, 5, 8 (the choice is made there only);
# laptop off and on. Part "test": off and on (the defaults) on the seed-2000, other-camera and
# other-look test sets (scripts/cse_more_training.sh and scripts/cse_ood_eval.sh make them).
# Outputs: benchmarks/results/cse_<tag>_{val,valbox}_<c>_{off,on,m<N>}_cpu.json,
#          cse_<tag>_<set>{,box}_<c>_{off,on}_cpu.json (tag: handle for the mug, base for the
#          laptop; set: final, ood, ood_look)
# Usage: bash scripts/cse_parts.sh mug|laptop val|test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
c=${1:?usage: bash scripts/cse_parts.sh mug|laptop val|test}
part=${2:?usage: bash scripts/cse_parts.sh mug|laptop val|test}
case $c in
  mug) tag=handle off=handle_azimuth=false ;;
  laptop) tag=base off=base_pitch=false ;;
  *) echo "cse_parts.sh: no part step for $c (mug, laptop)" >&2; exit 2 ;;
esac
mkdir -p benchmarks/results
run() {  # data json [evaluate-cse options]
  [[ -f $2 ]] || evaluate-cse --data "$1" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet --json "$2" "${@:3}"
}
out=benchmarks/results/cse_${tag}
if [[ $part == val ]]; then
  for box in "" box; do
    opt=(); [[ -n $box ]] && opt=(--box-only)
    run "out/data/${c}_rgbd_val" "${out}_val${box}_${c}_off_cpu.json" "${opt[@]}" --set "$off"
    if [[ $c == mug ]]; then
      for m in 1 2 3 5 8; do
        run out/data/mug_rgbd_val "${out}_val${box}_mug_m${m}_cpu.json" "${opt[@]}" \
          --set "handle_min_cells=$m"
      done
    else
      run "out/data/${c}_rgbd_val" "${out}_val${box}_${c}_on_cpu.json" "${opt[@]}"
    fi
  done
else
  for set in final ood ood_look; do
    for box in "" box; do
      opt=(); [[ -n $box ]] && opt=(--box-only)
      run "out/data/${c}_rgbd_$set" "${out}_${set}${box}_${c}_off_cpu.json" "${opt[@]}" \
        --set "$off"
      run "out/data/${c}_rgbd_$set" "${out}_${set}${box}_${c}_on_cpu.json" "${opt[@]}"
    done
  done
fi
