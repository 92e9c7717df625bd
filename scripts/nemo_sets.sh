# shellcheck shell=bash
# The RGB (NeMo) experiments' data sets (sourced, not run), each made when missing:
#   nemo_train_set C: out/data/<C>_train, 50 procedural instances x 2000 images at 320x240,
#     field of view 40..75 deg, the scene filling 0.25..0.9 of the shorter side (seed 0);
#   nemo_ood_set C: out/data/<C>_ood, the out-of-distribution test set: 10 held-out instances
#     (seed 1000) x 120 images from another camera (640x480, hfov 56.1 deg, f ~ 600 px), farther
#     objects (fill 0.2..0.6), scikit-image photo backgrounds (out/data/photos, made by
#     scripts/nemo_pretrained_experiment.sh), JPEG;
#   nemo_cal_set C [IMAGES]: out/data/<C>_cal, the calibration set of calibrate-nemo: 50 other
#     instances (seed 5000) x IMAGES (1500) images, the training's cameras and distances.
nemo_train_set() {
  [[ -d out/data/$1_train/train ]] || generate-dataset --category "$1" --instances 50 \
    --images 2000 --out "out/data/$1_train" --seed 0 --split train --hfov 40..75 \
    --fill 0.25..0.9 --no-progress
}
nemo_ood_set() {
  [[ -d out/data/$1_ood/test ]] || generate-dataset --category "$1" --instances 10 \
    --images 120 --out "out/data/$1_ood" --seed 1000 --split test --width 640 --height 480 \
    --hfov 56.1 --fill 0.2..0.6 --backgrounds out/data/photos --jpg --no-progress
}
nemo_cal_set() {
  [[ -d out/data/$1_cal/val ]] || generate-dataset --category "$1" --instances 50 \
    --images "${2:-1500}" --out "out/data/$1_cal" --seed 5000 --split val --hfov 40..75 \
    --fill 0.25..0.9 --no-progress
}
