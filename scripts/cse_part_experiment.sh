#!/usr/bin/env bash
# Paper 004 (issue 14 item 3) against CSE alone: the part-level shape memory (Eqs. 1-3,
# offline_training/cse/shape_memory.py) and the one-to-one Hungarian coarse-to-fine
# pseudo-labels (Eqs. 4-9, offline_training/cse/hungarian_labels.py) as self-supervised
# refinement of the bundled mug model, on a CPU:
#   1. label-free RGB-D training sequences (data engine, 8 views per arrangement, 20 new mug
#      instances, seed 4100, 320 images) and a held-out test set (10 other instances, seed 4200,
#      150 images, all 282 objects evaluated);
#   2. self-supervised fine-tuning of models/cse/mug.pt (--init-checkpoint, no labels read),
#      300 steps of 4 frame pairs, lr 1e-4, one thread; the runs differ only in the paper-004
#      loss weights: `cse` (CSE alone) and `p004` (all four terms), seeds 0 and 1 (`_s1`: batch
#      order, rotated copies, memory init), and, seed 0, `c2f` (Hungarian labels only) and
#      `memory` (shape memory only), `c2f_w001` (Hungarian labels at a fifth of the weight) and
#      `c2f_pool4` (4x4-cell regions), `c2f_w001_s1`; two trainings side by side;
#   3. evaluate-cse of the bundled model ("before") and of every run on the test set.
# Usage: bash scripts/cse_part_experiment.sh      (results: benchmarks/results/cse_part004_*.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
train_data=out/data/cse_part_train
test_data=out/data/mug_rgbd_part_test
mkdir -p out/runs out/logs benchmarks/results
[[ -d $train_data/train ]] || generate-dataset --category mug --instances 20 --images 320 \
  --views-per-layout 8 --objects-per-image 1..2 --out "$train_data" --seed 4100 --split train \
  --no-progress
[[ -d $test_data/test ]] || generate-dataset --category mug --instances 10 --images 150 \
  --out "$test_data" --seed 4200 --split test --no-progress

# name -> the paper-004 options of that run (all other weights: losses.DEFAULT_WEIGHTS)
declare -A options=(
  [cse]=""
  [p004]="--weight memory=0.1 --weight memory_deform=1.0 --weight c2f_coarse=0.005 --weight c2f_fine=0.005"
  [c2f]="--weight c2f_coarse=0.005 --weight c2f_fine=0.005"
  [memory]="--weight memory=0.1 --weight memory_deform=1.0"
  [c2f_w001]="--weight c2f_coarse=0.001 --weight c2f_fine=0.001"
  [c2f_pool4]="--weight c2f_coarse=0.005 --weight c2f_fine=0.005 --c2f-pool 4"
)
runs=(cse p004 c2f memory cse_s1 p004_s1 c2f_w001 c2f_pool4 c2f_w001_s1)

train_run() {
  local name=$1 run=out/runs/cse_part004_$1 seed=0 args
  [[ $name == *_s1 ]] && seed=1
  read -r -a args <<< "${options[${name%_s1}]}"
  [[ -f $run/mug.pt ]] && return 0
  nice -n 19 train-cse --data "$train_data" --category mug --out "$run" \
    --init-checkpoint models/cse/mug.pt --steps 300 --batch-size 4 --lr 1e-4 \
    --backbone efficientnet_lite0 --backbone-stages 3 --crop-size 128 --num-threads 1 \
    --num-workers 0 --seed "$seed" --checkpoint-every 50 --log-every 25 --no-progress \
    "${args[@]}" > "out/logs/cse_part004_$name.log" 2>&1
}

for ((i = 0; i < ${#runs[@]}; i += 2)); do  # two side by side
  train_run "${runs[i]}" &
  [[ -n ${runs[i + 1]:-} ]] && train_run "${runs[i + 1]}" &
  wait
done

evaluate() {
  local json=benchmarks/results/cse_part004_$1_cpu.json
  [[ -f $json ]] && return 0
  nice -n 19 evaluate-cse --data "$test_data" --split test --checkpoint "$2" --max-objects 300 \
    --threads 1 --quiet --json "$json"
}
evaluate bundled models/cse/mug.pt
for name in "${runs[@]}"; do evaluate "$name" "out/runs/cse_part004_$name/mug.pt"; done
