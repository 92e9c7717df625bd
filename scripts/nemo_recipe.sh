# shellcheck shell=bash
# The train-nemo options every RGB-model experiment shares (sourced, not run): the recipe of the
# bundled models (BENCHMARKS.md, "RGB models on pretrained ImageNet features") less what each
# experiment varies (data, steps, learning rate, backbone, seed, init, logging, loss weights).
# EfficientNet stages up to stride 16, stem and stride-4 stage frozen, backbone at half the
# rate, cosine decay, 128 px crops, batch 16, one torch thread and one loader worker per job.
NEMO_RECIPE=(--batch-size 16 --lr-schedule cosine --backbone-lr-scale 0.5 --frozen-stages 1
             --backbone-stages 3 --fuse-channels 64 --crop-size 128 --max-points 1024
             --num-threads 1 --num-workers 1 --no-progress)
# Fine-tuning a bundled (Lite0) model: Adam 1e-4 with the recipe, seed 1, logs every 25 steps.
NEMO_FINETUNE=("${NEMO_RECIPE[@]}" --lr 1e-4 --backbone efficientnet_lite0 --seed 1
               --log-every 25 --checkpoint-every 100)
