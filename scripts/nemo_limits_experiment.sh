#!/usr/bin/env bash
# What limits the bundled RGB (NeMo) models? (BENCHMARKS.md, "What limits the RGB models")
# Evaluates a model on test sets that each change ONE thing against its training data
# (scripts/nemo_pretrained_experiment.sh, seed 0: 320x240, hfov 40..75, fill 0.25..0.9,
# procedural backgrounds, PNG), on 10 held-out instances (seed 1000), 60 images each:
#   A  same generator settings                    (new instances only)
#   B  640x480 at hfov 56.1 deg (f = 600 px)      (another camera)
#   C  fill 0.2..0.6                              (farther objects)
#   D  scikit-image photo backgrounds + JPEG      (other backgrounds and compression)
#   T  the training images themselves             (no generalisation needed at all)
# and fine-tunes the model at a larger crop (160 px: 20x20 feature cells instead of 16x16) to
# test whether the feature resolution limits the precision.
# Usage: bash scripts/nemo_limits_experiment.sh [CATEGORY]   (default mug; needs the training
# data and photos of scripts/nemo_pretrained_experiment.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
c=${1:-mug}
out=out/limits/$c
mkdir -p "$out"
common=(--category "$c" --instances 10 --images 60 --seed 1000 --split test --no-progress)
[[ -d $out/A/test ]] || generate-dataset "${common[@]}" --out "$out/A" --hfov 40..75 --fill 0.25..0.9
[[ -d $out/B/test ]] || generate-dataset "${common[@]}" --out "$out/B" --width 640 --height 480 \
  --hfov 56.1 --fill 0.25..0.9
[[ -d $out/C/test ]] || generate-dataset "${common[@]}" --out "$out/C" --hfov 40..75 --fill 0.2..0.6
[[ -d $out/D/test ]] || generate-dataset "${common[@]}" --out "$out/D" --hfov 40..75 \
  --fill 0.25..0.9 --backgrounds out/data/photos --jpg
for x in A B C D; do
  python -m benchmarks.nemo_compare --data "$out/$x" --split test --max-objects 120 \
    --run "bundled=models/nemo/$c.pt:default" --threads 1 --quiet --json "$out/$x.json"
done
python -m benchmarks.nemo_compare --data "out/data/${c}_train" --split train --max-objects 120 \
  --run "bundled=models/nemo/$c.pt:default" --run "bundled_reference=models/nemo/$c.pt:reference" \
  --threads 1 --quiet --json "$out/T.json"
[[ -f out/runs/${c}_ft160/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" \
  --out "out/runs/${c}_ft160" --steps 600 --batch-size 16 --lr 1e-4 --lr-schedule cosine \
  --backbone-lr-scale 0.5 --frozen-stages 1 --backbone-stages 3 --backbone efficientnet_lite0 \
  --fuse-channels 64 --crop-size 160 --max-points 1024 --num-threads 1 --num-workers 1 --seed 1 \
  --log-every 25 --checkpoint-every 100 --snapshot-every 200 --no-progress \
  --init-checkpoint "models/nemo/$c.pt"
python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 120 \
  --run "bundled=models/nemo/$c.pt:default" --run "crop160=out/runs/${c}_ft160/$c.pt:default" \
  --threads 1 --quiet --json "$out/crop160.json"
