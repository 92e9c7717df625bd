#!/usr/bin/env bash
# A finer feature map for the RGB (NeMo) models: stride 4 against stride 8 (BENCHMARKS.md, "A
# finer feature map"). Per category, two fine-tunings of the bundled model, identical but for
# the stride (scripts/nemo_robust_stage.sh with EVAL=0, STEPS steps, the stage recipe given by
# MARGIN / P_OCCLUDE / P_DEGRADE / DIVERSE as for that script):
#   out/runs/<c>_${TAG}4  (--stride 4: the backbone's stride-4 stage fused too, its projection
#                          starting from zero; train-nemo --init-checkpoint of a stride-8 model)
#   out/runs/<c>_${TAG}8  (the control: stride 8)
# then both, without view correction, with the bundled model on the same 200 OOD objects,
# interleaved (the stride-4 model twice: searched on its features pooled to stride 8 then
# refined at stride 4, the default, and searched at stride 4, -fullres):
#   benchmarks/results/nemo_stride4_<c>_ood_cpu.json
# Usage: STEPS=800 MARGIN=1 P_OCCLUDE=0 P_DEGRADE=0 bash scripts/nemo_stride4_experiment.sh mug
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
tag=${TAG:-s37f}
export STEPS=${STEPS:-800} EVAL=0
for c in "$@"; do
  TAG=${tag}4 EXTRA="${EXTRA:-} --stride 4" bash scripts/nemo_robust_stage.sh "$c" &
  TAG=${tag}8 bash scripts/nemo_robust_stage.sh "$c" &
  wait
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt:default-raw" \
    --run "stride8=out/runs/${c}_${tag}8/$c.pt:default-raw" \
    --run "stride4=out/runs/${c}_${tag}4/$c.pt:default-raw" \
    --run "stride4_fullres=out/runs/${c}_${tag}4/$c.pt:default-raw-fullres" \
    --threads 1 --quiet --json "benchmarks/results/nemo_stride4_${c}_ood_cpu.json"
done
