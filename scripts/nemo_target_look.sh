# shellcheck shell=bash
# The RGB adaptation experiments' target domain look (sourced, not run): generate-dataset options
# for a camera and look the synthetic training data never saw: 640x480 at hfov 56.1 deg
# (f ~ 600 px), farther objects, scikit-image photo backgrounds (out/data/photos, made by
# scripts/nemo_pretrained_experiment.sh), dim and tinted light, another tone curve, motion blur
# up to 7 px, sensor noise and strong JPEG (quality 35). Shared by adaptation_experiment.sh,
# cc3d_replay_sweep.sh and tf_adaptation_experiment.sh; the RGB-D recordings use the milder
# CSE_BAG_LOOK of cse_bag_gen.sh.
NEMO_TARGET_LOOK=(--width 640 --height 480 --hfov 56.1 --fill 0.2..0.6
                  --backgrounds out/data/photos --jpg --light-gain 0.35..0.8 --light-tint 0.25
                  --gamma 1.2 --motion-blur 0..7 --rgb-noise 5 --jpeg-quality 35 --no-progress)
