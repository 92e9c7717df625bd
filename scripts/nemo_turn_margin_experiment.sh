#!/usr/bin/env bash
# Can training teach the RGB (NeMo) model the turn about up that its misses are? (BENCHMARKS.md,
# "Second opinions": the misses left are a box's quarter turns, a mug's handle side, a laptop
# seen front for back, and render-and-compare scores them as well as the truth.) Fine-tunings
# of the bundled model with scripts/nemo_robust_stage.sh's recipe (its training data, occluders
# and degradations, seed 1), identical but for the pose margin with turns about the up axis as
# negatives (train-nemo --pose-margin-turns, offline_training/nemo/pose_margin.py):
#   <c>_${TAG}ctl: STEPS steps without the margin (the control: the same extra steps);
#   <c>_$TAG:      the same with --pose-margin-weight 1 --pose-margin-poses 1 --pose-margin-turns;
#   <c>_${TAG}w3, <c>_${TAG}w10: SHORT_STEPS steps at weights 3 and 10.
# Then benchmarks/nemo_margin_probe.py --turns on 256 crops of the calibration set (other
# instances) and of the training set: how often a turn scores better than the truth, for the
# bundled model and each fine-tuning. (A full OOD evaluation needs calibrate-nemo and
# benchmarks/nemo_compare.py per model: scripts/nemo_robust_stage.sh's EVAL step.)
# Usage: bash scripts/nemo_turn_margin_experiment.sh CATEGORY  (STEPS 600, SHORT_STEPS 300,
# TAG tm, TURNS per category: box "90 270", others "90 180 270"; EXTRA: more train-nemo options
# for every run, e.g. "--backbone-stages 4" for the laptop)
# Outputs: out/runs/<c>_{TAG,TAGctl,TAGw3,TAGw10}/<c>.pt,
#   benchmarks/results/nemo_turn_probe_<c>_{cal,train}_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
c=${1:?usage: bash scripts/nemo_turn_margin_experiment.sh CATEGORY}
tag=${TAG:-tm} steps=${STEPS:-600} short=${SHORT_STEPS:-300}
declare -A default_turns=([box]="90 270")
turns=${TURNS:-${default_turns[$c]:-90 180 270}}
extra=${EXTRA:-}
mkdir -p out/logs benchmarks/results
stage() {  # TAG STEPS WEIGHT
  local margin_opts=""
  [[ $3 == 0 ]] || margin_opts="--pose-margin-turns $turns --pose-margin-poses 1"
  STEPS=$2 EVAL=0 TAG=$1 MARGIN=$3 EXTRA="$margin_opts $extra" \
    bash scripts/nemo_robust_stage.sh "$c" > "out/logs/${c}_$1_stage.log" 2>&1
}
stage "$tag" "$steps" 1 &
stage "${tag}ctl" "$steps" 0 &
wait
stage "${tag}w3" "$short" 3 &
stage "${tag}w10" "$short" 10 &
wait
models=(--checkpoint "models/nemo/$c.pt")
for t in "${tag}ctl" "$tag" "${tag}w3" "${tag}w10"; do
  models+=(--checkpoint "out/runs/${c}_$t/$c.pt")
done
read -r -a turn_list <<< "$turns"
python -m benchmarks.nemo_margin_probe --data "out/data/${c}_cal" --split val "${models[@]}" \
  --crops 256 --angles 10 --draws 2 --turns "${turn_list[@]}" --threads 1 \
  --json "benchmarks/results/nemo_turn_probe_${c}_cal_cpu.json"
python -m benchmarks.nemo_margin_probe --data "out/data/${c}_train" --split train "${models[@]}" \
  --crops 256 --angles 10 --draws 2 --turns "${turn_list[@]}" --threads 1 \
  --json "benchmarks/results/nemo_turn_probe_${c}_train_cpu.json"
