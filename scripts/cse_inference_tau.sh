#!/usr/bin/env bash
# The CSE estimator's inference temperature (BENCHMARKS.md "Inference temperature"): Eq. 1's
# softmax at 0.1 (training, published), 0.05 and 0.03, each bundled RGB-D model on a validation
# set of 10 other instances (seed 1000, 100 objects; where the choice was made), then each model
# at 0.05 on the seed-2000, other-camera and other-look test sets (scripts/cse_ood_eval.sh; 100
# objects each; no choice was made on them). The rule, on the validation sets only: a model
# gets 0.05 when it lowers its median rotation there (bowl, box, camera, can, mug; not bottle,
# laptop), stored in the bundled file by
#   export-model <its exported_from run file> models/cse/<c>.pt --half --inference-tau 0.05
# Outputs: benchmarks/results/cse_tau_val_<c>_<tau>_cpu.json,
#          cse_tau005_{,ood_,ood_look_}<c>_cpu.json
# Usage: bash scripts/cse_inference_tau.sh [CATEGORY ...]  (default: all seven)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
categories=("${@:-bottle bowl box camera can laptop mug}")
read -r -a categories <<< "${categories[*]}"
mkdir -p benchmarks/results
for c in "${categories[@]}"; do
  [[ -d out/data/${c}_rgbd_val/test ]] || generate-dataset --category "$c" --instances 10 \
    --images 60 --out "out/data/${c}_rgbd_val" --seed 1000 --split test --no-progress
  for tau in 0.1 0.05 0.03; do
    evaluate-cse --data "out/data/${c}_rgbd_val" --split test --checkpoint "models/cse/$c.pt" \
      --max-objects 100 --threads 1 --quiet --set "tau=$tau" \
      --json "benchmarks/results/cse_tau_val_${c}_${tau}_cpu.json"
  done
  for set in final ood ood_look; do
    name=$c; [[ $set != final ]] && name=${set}_$c
    [[ -d out/data/${c}_rgbd_$set/test ]] || continue  # made by scripts/cse_ood_eval.sh
    evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "models/cse/$c.pt" \
      --max-objects 100 --threads 1 --quiet --set tau=0.05 \
      --json "benchmarks/results/cse_tau005_${name}_cpu.json"
  done
done
