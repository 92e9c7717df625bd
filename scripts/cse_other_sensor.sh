#!/usr/bin/env bash
# Issue #14: the bundled RGB-D models through another depth camera (BENCHMARKS "Another depth
# camera"). The data engine's default sensor has independent per-pixel noise and holes at edges;
# a stereo camera also has correlated noise, edge fattening, flying pixels and a depth image
# registered a little off the colour image (offline_training/synthetic/sensor_noise.py,
# generate-dataset --depth-*; cse_step_sets.sh's CSE_SENSOR: 3 px, 2 px, 0.3, (1.5, 1) px).
#   bash scripts/cse_other_sensor.sh test [C ...]       the README's seed-2000 and other-camera
#       scenes through that camera (cse_step_sets.sh sets final_sensor, ood_sensor), exact
#       masks, 100 objects each (default: all seven categories)
#   bash scripts/cse_other_sensor.sh boxonly [C ...]    the same four sets (final, ood and both
#       through that camera) with box-only detections (a detector without masks), all seven
#   bash scripts/cse_other_sensor.sh artefacts [C ...]  the 640x480 validation scenes (seed
#       1500) through each artefact alone, all four and none (default: laptop box camera)
# Two evaluations at a time, one thread each. Outputs:
#   benchmarks/results/cse_sensor_{final_sensor,ood_sensor}_<c>_cpu.json
#   benchmarks/results/cse_sensor_{final,ood,final_sensor,ood_sensor}_boxonly_<c>_cpu.json
#   benchmarks/results/cse_sensor_val640_<artefact>_<c>_cpu.json (none all corr fat fly shift)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mode=${1:?usage: bash scripts/cse_other_sensor.sh test|boxonly|artefacts [CATEGORY ...]}
shift
mkdir -p benchmarks/results out/logs
declare -A ART=([none]="" [all]="${CSE_SENSOR[*]}" [corr]="--depth-noise-scale 3"
                [fat]="--depth-fatten 2" [fly]="--depth-flying 0.3" [shift]="--depth-shift 1.5,1")
artefact() {  # artefact C A: models/cse/<C>.pt on the val640 scenes through artefact A
  local c=$1 a=$2 d=out/data/${1}_rgbd_val640_s$2
  # shellcheck disable=SC2086  # ART's options split into words
  [[ -d $d/test ]] || generate-dataset --category "$c" "${CSE_WIDE[@]}" --seed 1500 ${ART[$a]} \
    --out "$d" > /dev/null
  evaluate-cse --data "$d" --split test --checkpoint "models/cse/$c.pt" --max-objects 100 \
    --threads 1 --quiet --json "benchmarks/results/cse_sensor_val640_${a}_${c}_cpu.json" \
    > "out/logs/cse_sensor_val640_${a}_$c.log"
}
sets_eval() {  # sets_eval SUFFIX SETS ARGS...: cse_eval of every category on every set
  local suffix=$1 c set
  local -a sets
  read -r -a sets <<< "$2"
  shift 2
  for c in "${cats[@]}"; do
    for set in "${sets[@]}"; do
      cse_set "$c" "$set"
      while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
      cse_eval "$c" "$set" "benchmarks/results/cse_sensor_${set}${suffix}_${c}_cpu.json" "$@" \
        > "out/logs/cse_sensor_${set}${suffix}_$c.log" &
    done
  done
}
cats=("${@:-bottle can bowl mug camera laptop box}")
[[ $mode == artefacts ]] && cats=("${@:-laptop box camera}")
read -r -a cats <<< "${cats[*]}"
case $mode in
  test) sets_eval "" "final_sensor ood_sensor" ;;
  boxonly) sets_eval _boxonly "final final_sensor ood ood_sensor" --box-only ;;
  artefacts)
    for c in "${cats[@]}"; do
      for a in none all corr fat fly shift; do
        while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
        artefact "$c" "$a" &
      done
    done ;;
  *) echo "unknown mode $mode (test, boxonly, artefacts)" >&2; exit 2 ;;
esac
wait
python -m benchmarks.cse_table benchmarks/results/cse_sensor_*_cpu.json
