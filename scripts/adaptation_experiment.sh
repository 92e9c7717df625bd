#!/usr/bin/env bash
# Target-domain adaptation of the bundled RGB (NeMo) models (issue #16 items 1, 2, 6), on a CPU:
#   1. a target domain whose look the synthetic training data (scripts/
#      nemo_pretrained_experiment.sh: seed 0, 320x240, hfov 40..75, procedural backgrounds,
#      mild sensor noise, white light) never saw: held-out instances (other seeds), another
#      camera (640x480, hfov 56.1 deg), farther objects (fill 0.2..0.6), photo backgrounds,
#      dim and coloured light (brightness x0.35..0.8, channel cast +-25 %), another tone curve
#      (gamma 1.2), motion blur (0..7 px, random direction), extra sensor noise (sigma 5) and
#      strong JPEG compression (quality 35; offline_training/synthetic/look.py). Two parts:
#      training (seed 2000, 150 images; unlabeled for adaptation: only boxes and masks are
#      used) and held-out (seed 3000, 60 images; other instances too);
#   2. the "before" row (bundled model on the held-out part), CC3D (paper 001: pseudo-labels
#      by Eq. 6 confidence, top K per category, fine-tuning with the contrastive loss plus
#      alpha x Eq. 4 on the pseudo-labelled crops) for ROUNDS rounds, and the supervised upper
#      bound (the training part's ground truth, same steps), all with adapt-nemo's loop and
#      report (out/runs/<category>_{cc3d,supervised}/report.json);
#   3. NVSM few-shot (paper 002, issue #16 item 4): N annotated anchors drawn from the training
#      part (seed 0, nested: the 7 are among the 20; out/runs/<category>_anchors_N.json),
#      pseudo-labels matched to views synthesized from them and expanding round by round
#      (out/runs/<category>_nvsm_N/report.json); its controls: the anchors alone (threshold 2:
#      nothing else kept, <category>_nvsm_N_anchors_only) and EXPANSIONS matching passes before
#      one training round (<category>_nvsm_N_x<EXPANSIONS>, at most 150 labels);
#   4. with REPLAY=F: CC3D and the supervised bound again with source replay (F of every
#      fine-tuning batch drawn from labelled synthetic source data: the training look, seed 0,
#      400 images; offline_training/nemo/replay.py), <category>_{cc3d,supervised}_replay.
# Usage: bash scripts/adaptation_experiment.sh [CATEGORY ...]  (default: mug)
# Env: STEPS (fine-tuning steps per round, 200), ROUNDS (2), TOP_K (100), ALPHA (1.0),
#      EVAL (held-out objects, 100), THREADS (1), ANCHORS (NVSM anchor counts, "7 20"; empty:
#      no NVSM), THRESHOLD (NVSM similarity threshold, 0.8), RADIUS (NVSM pose shift, 30 deg),
#      EXPANSIONS (4; empty: no such run), REPLAY (source replay fraction; empty: no
#      replay runs), ONLY_REPLAY (1: the replay runs only).
# Needs out/data/photos (made by scripts/nemo_pretrained_experiment.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
categories=("${@:-mug}")
steps=${STEPS:-200} rounds=${ROUNDS:-2} top_k=${TOP_K:-100} alpha=${ALPHA:-1.0}
n_eval=${EVAL:-100} threads=${THREADS:-1}
anchor_counts=${ANCHORS-7 20} threshold=${THRESHOLD:-0.8} radius=${RADIUS:-30}
expansions=${EXPANSIONS-4} replay=${REPLAY:-} only_replay=${ONLY_REPLAY:-0}
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
# shellcheck source=scripts/nemo_target_look.sh
source scripts/nemo_target_look.sh
look=("${NEMO_TARGET_LOOK[@]}")
for c in "${categories[@]}"; do
  [[ -d out/data/${c}_target/train ]] || generate-dataset --category "$c" --instances 10 \
    --images 150 --out "out/data/${c}_target" --seed 2000 --split train "${look[@]}"
  [[ -d out/data/${c}_target_heldout/test ]] || generate-dataset --category "$c" \
    --instances 10 --images 60 --out "out/data/${c}_target_heldout" --seed 3000 --split test \
    "${look[@]}"
  common=(--checkpoint "models/nemo/$c.pt" --target "out/data/${c}_target"
          --heldout "out/data/${c}_target_heldout" --steps "$steps" --eval-max-objects "$n_eval"
          --threads "$threads")
  if [[ -n $replay ]]; then
    [[ -d out/data/${c}_source/train ]] || generate-dataset --category "$c" --instances 50 \
      --images 400 --out "out/data/${c}_source" --seed 0 --split train --hfov 40..75 \
      --fill 0.25..0.9 --no-progress
    python -m offline_training.adapt.cli --method cc3d "${common[@]}" --rounds "$rounds" \
      --top-k "$top_k" --domain-weight "$alpha" --replay-data "out/data/${c}_source" \
      --replay-fraction "$replay" --out "out/runs/${c}_cc3d_replay"
    python -m offline_training.adapt.cli --method supervised "${common[@]}" --rounds 1 \
      --replay-data "out/data/${c}_source" --replay-fraction "$replay" \
      --out "out/runs/${c}_supervised_replay"
  fi
  [[ $only_replay == 1 ]] && continue
  python -m offline_training.adapt.cli --method cc3d "${common[@]}" --rounds "$rounds" \
    --top-k "$top_k" --domain-weight "$alpha" --out "out/runs/${c}_cc3d"
  python -m offline_training.adapt.cli --method supervised "${common[@]}" --rounds 1 \
    --out "out/runs/${c}_supervised"
  for n in $anchor_counts; do
    python -m offline_training.adapt.anchors --target "out/data/${c}_target" --n "$n" --seed 0 \
      --category "$c" --out "out/runs/${c}_anchors_${n}.json"
    python -m offline_training.adapt.cli --method nvsm "${common[@]}" --rounds "$rounds" \
      --anchors "out/runs/${c}_anchors_${n}.json" --top-k "$top_k" --threshold "$threshold" \
      --radius "$radius" --out "out/runs/${c}_nvsm_${n}"
    python -m offline_training.adapt.cli --method nvsm "${common[@]}" --rounds 1 \
      --anchors "out/runs/${c}_anchors_${n}.json" --threshold 2 --radius "$radius" \
      --out "out/runs/${c}_nvsm_${n}_anchors_only"
    [[ -z $expansions ]] || python -m offline_training.adapt.cli --method nvsm "${common[@]}" \
      --rounds 1 --anchors "out/runs/${c}_anchors_${n}.json" --top-k 150 \
      --threshold "$threshold" --radius "$radius" --expansions "$expansions" \
      --out "out/runs/${c}_nvsm_${n}_x${expansions}"
  done
done
