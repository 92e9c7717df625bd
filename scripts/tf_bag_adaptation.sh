#!/usr/bin/env bash
# pose-train --labels tf-consensus (RGB only) on recorded bags, with and without source replay
# (BENCHMARKS.md, "TF-consensus pseudo-labels"): the first attempt, 300 steps on the consensus
# labels of two recorded mug instances, made the mug worse on the demo bag; adapt-nemo's
# experiment (scripts/tf_adaptation_experiment.sh) says labelled synthetic data replayed in
# every batch is what keeps a model from forgetting while it fits a few instances.
#   bags (out/bags): base_pass (a mobile base drives past 4 objects, seed 7) and sweep_b (an arm
#   sweeps over them, seed 11), 10 s at 10 Hz, 320x240, mcap; neither depth nor ground truth is
#   used for the labels;
#   runs: out/runs/mug_tfc_bags (no replay) and out/runs/mug_tfc_bags_replay (--replay-data
#   out/data/mug_source --replay-fraction 0.8), 300 steps from models/nemo/mug.pt, evaluated on
#   the demo bag's mugs (every 3rd frame), then compared in one interleaved run.
# Usage: bash scripts/tf_bag_adaptation.sh  (needs out/data/mug_source: REPLAY=0.5 bash
# scripts/adaptation_experiment.sh mug makes it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p out/bags out/logs benchmarks/results
common=(--category mug --category bottle --category box --category camera --objects 4
        --duration 10 --rate 10 --tf-rate 30 --width 320 --height 240 --noise depth
        --depth-encoding 16UC1 --storage mcap)
[[ -e out/bags/base_pass ]] || generate-bag --out out/bags/base_pass "${common[@]}" \
  --trajectory base_pass --seed 7
[[ -e out/bags/sweep_b ]] || generate-bag --out out/bags/sweep_b "${common[@]}" \
  --trajectory arm_sweep --seed 11
train=(out/bags/base_pass out/bags/sweep_b --category mug --labels tf-consensus
       --init-checkpoint models/nemo/mug.pt --steps 300 --eval-bag data/demo/demo_bag
       --num-threads 1 --no-progress)
pose-train "${train[@]}" --out out/runs/mug_tfc_bags > out/logs/mug_tfc_bags.log 2>&1 &
pose-train "${train[@]}" --out out/runs/mug_tfc_bags_replay --replay-data out/data/mug_source \
  --replay-fraction 0.8 > out/logs/mug_tfc_bags_replay.log 2>&1 &
wait
python -m benchmarks.nemo_compare --data out/runs/mug_tfc_bags/eval_data --split test \
  --run before=models/nemo/mug.pt --run no_replay=out/runs/mug_tfc_bags/mug.pt \
  --run replay=out/runs/mug_tfc_bags_replay/mug.pt --threads 1 --quiet \
  --json benchmarks/results/tf_bag_adaptation_mug_cpu.json
