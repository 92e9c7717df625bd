#!/usr/bin/env bash
# A laptop seen from behind (CseInferenceConfig.laptop_screen_box, laptop_planes.
# laptop_screen_box): where the depth shows the screen alone on the table, the box is measured
# from the screen (its lean, top and width; the base as deep as the screen is long) instead of
# taken from the solve. The bundled laptop model with the step off and at its default:
#   val:  the validation sets (scripts/cse_step_sets.sh val and val640, 100 objects each; the
#         first 360 objects of out/data/laptop_rgbd_val1700, made by
#         scripts/cse_far_laptop.sh val)
#   test: the README's test sets (seed 2000, another camera, its other look), then the
#         README's figures again with the new default (scripts/eval_defaults.sh rgbd laptop,
#         scripts/cse_gravity.sh laptop final ood ood_look bags, scripts/cse_mask_spill.sh
#         test laptop)
# Usage: bash scripts/cse_laptop_screen.sh val|test
# Outputs: benchmarks/results/cse_laptop_screen_<set>_{off,on}_laptop_cpu.json and those of
#          the scripts named (test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mode=${1:?usage: bash scripts/cse_laptop_screen.sh val|test}
mkdir -p benchmarks/results
cse_laptop_step laptop_screen laptop_screen_box "$mode"
