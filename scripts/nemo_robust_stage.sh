#!/usr/bin/env bash
# A robustness stage for the bundled RGB (NeMo) models: what a real scene does to a crop that
# the data engine's renders do not. Per category:
#   1. fine-tune $INIT_DIR/<c>.pt for STEPS (1000) steps on its training data (the recipe of
#      scripts/nemo_finetune_experiment.sh, seed 1, MARGIN pose-margin weight, default 0) with
#      synthetic occluders (--p-occlude 0.5: their pixels hidden from the loss) and camera
#      degradations (--p-degrade 0.5: motion blur, noise, JPEG) -> out/runs/<c>_$TAG;
#   2. calibrate-nemo on out/data/<c>_cal (scripts/nemo_view_correction.sh) -> out/cal_$TAG/<c>.pt
#      (fine-tuning does not carry the view correction over);
#   3. bundled vs new, both corrected, interleaved, on data no choice was made on: 200 objects
#      of out/data/<c>_ood (clean), of out/data/<c>_rgbd_ood_look (dim, tinted light, blur,
#      noise, JPEG; scripts/cse_view_correction.sh), the same 200 clean objects partly hidden
#      by photo occluders (benchmarks/nemo_occlusion.py), and the new model's default against
#      its reference schedule on the first 60.
# INIT_DIR: where the models to fine-tune are (<c>.pt; default models/nemo, e.g. out/cal_pax_scratch
# for a model trained from ImageNet with --per-axis-scale, which the fine-tune keeps).
# DIVERSE=1: train on out/data/<c>_diverse instead: 150 other procedural instances (seed 7;
# the training data has 50, seed 0), 3000 images, the same camera and distance ranges (the CSE
# models' "stage on more varied data" in BENCHMARKS, for NeMo); DIVERSE_SEED=S another 150
# (out/data/<c>_diverse_sS).
# P_OCCLUDE / P_DEGRADE: the occluder and degradation probabilities (0.5 each).
# EXTRA: more train-nemo options (e.g. "--per-axis-scale", with TAG=pax_ft STEPS=1500: the mesh
# fitted to each instance's proportions, BENCHMARKS "The neural mesh fitted to each instance").
# EVAL=0: step 1 only (a stage that another stage continues, INIT_DIR=out/runs/<c>_$TAG).
# Usage: bash scripts/nemo_robust_stage.sh CATEGORY ...  (PARALLEL trainings at a time, 2;
# makes out/data/<c>_train when missing; needs out/data/<c>_{cal,ood,rgbd_ood_look})
# Outputs: out/runs/<c>_$TAG/<c>.pt, out/cal_$TAG/<c>.pt,
#   benchmarks/results/nemo_${TAG}cal_<c>_{ood,rgbd_ood_look,vs_reference}_cpu.json,
#   benchmarks/results/nemo_occlusion_${TAG}cal_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
steps=${STEPS:-1000} parallel=${PARALLEL:-2} tag=${TAG:-occ} margin=${MARGIN:-0}
init_dir=${INIT_DIR:-models/nemo}
diverse=${DIVERSE:-0} diverse_seed=${DIVERSE_SEED:-7}
p_occlude=${P_OCCLUDE:-0.5} p_degrade=${P_DEGRADE:-0.5}
read -r -a extra <<< "${EXTRA:-}"
mkdir -p out/logs "out/cal_$tag" benchmarks/results
train() {
  local c=$1
  [[ -f out/runs/${c}_$tag/$c.pt ]] && return 0
  # the training data of scripts/nemo_pretrained_experiment.sh, or the DIVERSE one
  local data=out/data/${c}_train instances=50 images=2000 seed=0
  if [[ $diverse == 1 ]]; then
    data=out/data/${c}_diverse instances=150 images=3000 seed=$diverse_seed
    [[ $seed == 7 ]] || data=${data}_s$seed
  fi
  [[ -d $data/train ]] || generate-dataset --category "$c" --instances "$instances" \
    --images "$images" --out "$data" --seed "$seed" --split train --hfov 40..75 \
    --fill 0.25..0.9 --no-progress
  train-nemo --data "$data" --category "$c" --out "out/runs/${c}_$tag" \
    --init-checkpoint "$init_dir/$c.pt" --pose-margin-weight "$margin" --steps "$steps" \
    "${NEMO_FINETUNE[@]}" --p-occlude "$p_occlude" --p-degrade "$p_degrade" \
    --snapshot-every 200 "${extra[@]}" > "out/logs/${c}_$tag.log" 2>&1
}
for c in "$@"; do
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n; done
  train "$c" &
done
wait
[[ ${EVAL:-1} == 1 ]] || exit 0
for c in "$@"; do
  new=out/cal_$tag/$c.pt
  [[ -f $new ]] || calibrate-nemo --checkpoint "out/runs/${c}_$tag/$c.pt" \
    --data "out/data/${c}_cal" --split val --out "$new" --threads 1 \
    --estimates "out/cal_$tag/${c}_estimates.npz" \
    --json "benchmarks/results/nemo_${tag}_viewcorr_cal_${c}_cpu.json"
  runs=(--run "bundled=models/nemo/$c.pt" --run "$tag=$new")
  for set in ood rgbd_ood_look; do
    python -m benchmarks.nemo_compare --data "out/data/${c}_$set" --split test \
      --max-objects 200 "${runs[@]}" --threads 1 --quiet \
      --json "benchmarks/results/nemo_${tag}cal_${c}_${set}_cpu.json"
  done
  python -m benchmarks.nemo_occlusion --data "out/data/${c}_ood" --split test --max-objects 200 \
    "${runs[@]}" --photos out/data/photos --threads 1 \
    --json "benchmarks/results/nemo_occlusion_${tag}cal_${c}_cpu.json"
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 60 \
    --run "$tag=$new:default" --run "${tag}_reference=$new:reference" --threads 1 --quiet \
    --json "benchmarks/results/nemo_${tag}cal_${c}_vs_reference_cpu.json"
done
