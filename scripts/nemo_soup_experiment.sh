#!/usr/bin/env bash
# Model soups for the RGB (NeMo) models: the weight average of the fine-tuned stages of one
# lineage (offline_training/model_soup.py, `average-models`), chosen on the calibration set,
# measured on the test sets. Per category:
#   1. each soup of SOUPS_<c> (below) -> out/runs/<c>_<tag>/<c>.pt;
#   2. calibrate-nemo on out/data/<c>_cal (50 instances the training never saw, seed 5000; the
#      view correction of scripts/nemo_view_correction.sh) -> out/cal_<tag>/<c>.pt and
#      benchmarks/results/nemo_<tag>_viewcorr_cal_<c>_cpu.json, whose cross-validated corrected
#      median and share within 30 deg are what the choice between soups and ingredients is
#      made on (benchmarks/soup_table.py prints them side by side); the test sets are not
#      touched here;
#   3. STAGE=1: the chosen soup (TAG) through scripts/nemo_robust_stage.sh's comparisons
#      against the bundled model (clean OOD, other look, occluders, vs reference), which skips
#      its training and calibration because both exist.
# Usage: bash scripts/nemo_soup_experiment.sh CATEGORY ...  (PARALLEL calibrations at a time, 2)
#        STAGE=1 TAG=<tag> bash scripts/nemo_soup_experiment.sh CATEGORY
# Needs the stages' runs (out/runs/<c>_<stage>/<c>.pt, from scripts/nemo_robust_stage.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
parallel=${PARALLEL:-2}
# tag:ingredient,ingredient,...  (a run tag, "bundled" for models/nemo/<c>.pt, or TAG@STEP for
# a snapshot of that run, out/runs/<c>_TAG/step_STEP.pt: the tail of one run, as stochastic
# weight averaging takes it)
declare -A SOUPS=(
  [camera]="soup23:div2,div3 soup123:div,div2,div3 swa2:div2@600,div2@800,div2@1000"
  [laptop]="soup23:div2,div3 soup123:div,div2,div3 swa2:div2@600,div2@800,div2@1000"
  [mug]="soupb1:bundled,divpm soupb12:bundled,divpm,divplain"
  [box]="soupb12:bundled,divclean,div2clean soup12:divclean,div2clean"
)
path_of() {  # category, ingredient
  if [[ $2 == bundled ]]; then echo "models/nemo/$1.pt"
  elif [[ $2 == *@* ]]; then echo "out/runs/${1}_${2%@*}/step_${2#*@}.pt"
  else echo "out/runs/${1}_$2/$1.pt"; fi
}
calibrate() {  # category, tag, checkpoint
  local c=$1 tag=$2 ck=$3
  mkdir -p "out/cal_$tag"
  [[ -f out/cal_$tag/$c.pt ]] || calibrate-nemo --checkpoint "$ck" --data "out/data/${c}_cal" \
    --split val --out "out/cal_$tag/$c.pt" --threads 1 \
    --estimates "out/cal_$tag/${c}_estimates.npz" \
    --json "benchmarks/results/nemo_${tag}_viewcorr_cal_${c}_cpu.json" \
    > "out/logs/cal_${tag}_$c.log" 2>&1
}
mkdir -p out/logs benchmarks/results
if [[ ${STAGE:-0} == 1 ]]; then
  for c in "$@"; do TAG=${TAG:?STAGE=1 needs TAG} bash scripts/nemo_robust_stage.sh "$c"; done
  exit 0
fi
for c in "$@"; do
  # the bundled model's own figures on the calibration set, for the same table
  [[ -f benchmarks/results/nemo_bundled_viewcorr_cal_${c}_cpu.json ]] || {
    while (( $(jobs -rp | wc -l) >= parallel )); do wait -n; done
    calibrate "$c" bundled "models/nemo/$c.pt" &
  }
  for spec in ${SOUPS[$c]}; do
    tag=${spec%%:*}
    IFS=, read -r -a parts <<< "${spec#*:}"
    paths=()
    for p in "${parts[@]}"; do paths+=("$(path_of "$c" "$p")"); done
    [[ -f out/runs/${c}_$tag/$c.pt ]] \
      || average-models "${paths[@]}" --out "out/runs/${c}_$tag/$c.pt"
    while (( $(jobs -rp | wc -l) >= parallel )); do wait -n; done
    calibrate "$c" "$tag" "out/runs/${c}_$tag/$c.pt" &
  done
done
wait
