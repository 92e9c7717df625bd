#!/usr/bin/env bash
# Mirror augmentation for the RGB (NeMo) models (BENCHMARKS.md, "Mirror images: averaged at run
# time, or trained on"). At test time the mirrored image's estimate, mirrored back and averaged
# with the estimate, put the mug at 0.935 Acc@pi/6 on its OOD set
# (benchmarks/nemo_second_opinions.py) at twice the latency; training on mirrored crops
# (train-nemo --p-mirror) asks the features for the same thing at no
# run-time cost. Per category, a fine-tuning of the bundled model with scripts/nemo_robust_stage.sh
# and the stage recipe of its control run (given by STEPS / MARGIN / P_OCCLUDE / P_DEGRADE as for
# that script), plus --p-mirror 0.5:
#   out/runs/<c>_$TAG, calibrated (calibrate-nemo on out/data/<c>_cal) -> out/cal_$TAG/<c>.pt
# the control (CONTROL: the same recipe without the mirror, trained by an earlier experiment and
# calibrated here when out/cal_<control tag>/<c>.pt is missing), then the bundled model, the
# control and the mirrored model, each with its own view correction, on the same 200 OOD
# objects, interleaved: benchmarks/results/nemo_mirror_<c>_ood_cpu.json
# Usage: STEPS=800 MARGIN=1 P_OCCLUDE=0 P_DEGRADE=0 CONTROL=s37f8 bash scripts/nemo_mirror_experiment.sh mug
#        STEPS=600 CONTROL=tmctl bash scripts/nemo_mirror_experiment.sh box
# (the mug's control: scripts/nemo_stride4_experiment.sh's stride-8 run; the box's:
# scripts/nemo_turn_margin_experiment.sh's control)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
tag=${TAG:-s38mir} control=${CONTROL:?CONTROL: the tag of the control run (out/runs/<c>_CONTROL)}
mkdir -p out/logs benchmarks/results
for c in "$@"; do
  TAG=$tag EVAL=0 EXTRA="${EXTRA:-} --p-mirror 0.5" bash scripts/nemo_robust_stage.sh "$c"
  for t in "$tag" "$control"; do
    mkdir -p "out/cal_$t"
    [[ -f out/cal_$t/$c.pt ]] || calibrate-nemo --checkpoint "out/runs/${c}_$t/$c.pt" \
      --data "out/data/${c}_cal" --split val --out "out/cal_$t/$c.pt" --threads 1 \
      --estimates "out/cal_$t/${c}_estimates.npz" > "out/logs/${c}_${t}_calibrate.log" 2>&1
  done
  python -m benchmarks.nemo_compare --data "out/data/${c}_ood" --split test --max-objects 200 \
    --run "bundled=models/nemo/$c.pt" --run "control=out/cal_$control/$c.pt" \
    --run "mirror=out/cal_$tag/$c.pt" --threads 1 --quiet \
    --json "benchmarks/results/nemo_mirror_${c}_ood_cpu.json"
  python -m benchmarks.paired_compare "benchmarks/results/nemo_mirror_${c}_ood_cpu.json" \
    --pair mirror:control --pair mirror:bundled
done
