#!/usr/bin/env bash
# Paper 000's annotation-free pipeline on a CPU, with the render generator standing in for
# Zero-1-to-3 (BENCHMARKS.md, "Diffusion-generated posed views"):
#   1. one input image per instance: INSTANCES procedural instances (seed 0, the instances the
#      bundled synthetic-supervised model was trained on), 20 views each on the published grid
#      (15 deg within [-90, 90] in azimuth and elevation), pasted on procedural backgrounds;
#   2. train-views: per-instance meshes + shared EfficientNet-Lite0 encoder (STEPS steps),
#      merging (threshold 0.8), category training (MERGE_STEPS), frame from the anchor's
#      annotation (the synthetic input's ground truth);
#   3. evaluation on the out-of-distribution test set of the bundled RGB models (seed 1000
#      instances, 640x480, photos, JPEG; scripts/nemo_pretrained_experiment.sh makes it):
#      merged vs unmerged vs the bundled synthetic-supervised model, 200 objects.
# Usage: bash scripts/views_experiment.sh [CATEGORY]   (default mug)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
c="${1:-mug}"
INSTANCES="${INSTANCES:-40}"
STEPS="${STEPS:-1200}"
MERGE_STEPS="${MERGE_STEPS:-600}"
THREADS="${THREADS:-2}"
mkdir -p out/data out/runs benchmarks/results
[[ -f out/data/${c}_views/instances.json ]] || generate-views --category "$c" \
  --source synthetic --instances "$INSTANCES" --generator render --out "out/data/${c}_views" \
  --seed 0 --no-progress
[[ -f out/runs/${c}_views/$c.pt ]] || train-views --data "out/data/${c}_views" \
  --out "out/runs/${c}_views" --steps "$STEPS" --merge-steps "$MERGE_STEPS" \
  --num-threads "$THREADS" --no-progress
[[ -d out/data/${c}_ood/test ]] || bash scripts/nemo_pretrained_experiment.sh "$c"
python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
  --run "views_merged=out/runs/${c}_views/$c.pt" \
  --run "views_unmerged=out/runs/${c}_views/${c}_unmerged.pt" \
  --run "synthetic_supervised=models/nemo/$c.pt" --threads 1 --quiet \
  --json "benchmarks/results/views_${c}_cpu.json"
