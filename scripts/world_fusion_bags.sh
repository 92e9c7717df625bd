#!/usr/bin/env bash
# World-frame fusion of the bundled RGB models on five recordings, with and without gravity,
# for a few fusion settings (CPU, one thread):
#   the demo bag (arm sweep, mug/bottle/camera) and four generate-bag recordings of mug,
#   bottle, box and camera (out/wf/<name>, made when missing): base_pass (seed 7) and sweep_b
#   (arm sweep, seed 11), the bags the first defaults were picked on, and sweep_c (seed 13)
#   and pass_d (base pass, seed 17), recorded later.
# Usage: bash scripts/world_fusion_bags.sh [SETTING_TAG ...]
#   tags: t0 (equal weights), t001_k1 (score_temperature 0.01, best view 1), t001_k5, t002_k10
#   (default: all four)
# Outputs: benchmarks/results/world_fusion_<gravity|plain>_<tag>_cpu.json (estimates cached in
#   out/world_fusion_bags; the first run estimates every frame: ~6 min per pass of 5 bags).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
tags=("$@")
[[ ${#tags[@]} -gt 0 ]] || tags=(t0 t001_k1 t001_k5 t002_k10)
bags=(--bag data/demo/demo_bag)
for spec in "base_pass base_pass 7" "sweep_b arm_sweep 11" "sweep_c arm_sweep 13" \
            "pass_d base_pass 17"; do
  read -r name trajectory seed <<<"$spec"
  if [[ ! -f out/wf/$name/ground_truth.json ]]; then
    generate-bag --out "out/wf/$name" --category mug --category bottle --category box \
      --category camera --objects 4 --trajectory "$trajectory" --duration 10 --rate 10 \
      --tf-rate 30 --width 320 --height 240 --noise depth --depth-encoding 16UC1 \
      --storage mcap --seed "$seed"
  fi
  bags+=(--bag "out/wf/$name")
done
mkdir -p benchmarks/results
for tag in "${tags[@]}"; do
  case $tag in
    t0) sets=(--set score_temperature=0) ;;
    t001_k1) sets=(--set score_temperature=0.01 --set score_top_k=1) ;;
    t001_k5) sets=(--set score_temperature=0.01 --set score_top_k=5) ;;
    t002_k10) sets=(--set score_temperature=0.02 --set score_top_k=10) ;;
    *) echo "unknown setting tag $tag" >&2; exit 2 ;;
  esac
  for gravity in plain gravity; do
    flag=()
    [[ $gravity == gravity ]] && flag=(--gravity)
    python -m benchmarks.world_fusion "${bags[@]}" "${flag[@]}" "${sets[@]}" \
      --cache out/world_fusion_bags --threads 1 --timing-runs 1 \
      --json "benchmarks/results/world_fusion_${gravity}_${tag}_cpu.json"
  done
done
