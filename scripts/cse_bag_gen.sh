# shellcheck shell=bash
# The recordings of the RGB-D bag experiments (sourced, not run): scripts/cse_bag_adaptation.sh,
# cse_bn_confirm.sh and cse_step_sets.sh's held-out recordings make them all the same way.
# CSE_BAG_LOOK is also the RGB-D test sets' "other look" (cse_step_sets.sh's ood_look,
# cse_ood_eval.sh, cse_view_correction.sh, cse_box_axes.sh).
#   cse_bag_gen C NAME SEED [OBJECTS_SEED]: out/cse_bags/<C>/bags/<NAME>, made when missing:
#     generate-bag, 3 objects of category C, 30 s at 5 Hz, the sensor's depth noise and holes,
#     the look the synthetic training data never saw (CSE_BAG_LOOK: dim, tinted light, another
#     tone curve, motion blur, sensor noise, JPEG); OBJECTS_SEED draws the objects of another
#     seed (a new recording of the same objects). Its log: out/cse_bags/<C>/logs/gen_<NAME>.log
CSE_BAG_LOOK=(--light-gain 0.35..0.8 --light-tint 0.25 --gamma 1.2 --motion-blur 0..3
              --rgb-noise 5 --jpeg-quality 50)
cse_bag_gen() {
  local c=$1 name=$2 seed=$3 out=out/cse_bags/$1 objects=()
  [[ -n ${4:-} ]] && objects=(--objects-seed "$4")
  [[ -f $out/bags/$name/ground_truth.json ]] && return 0
  mkdir -p "$out/bags" "$out/logs"
  rm -rf "${out:?}/bags/$name"
  generate-bag --out "$out/bags/$name" --category "$c" --objects 3 --duration 30 --rate 5 \
    --seed "$seed" "${objects[@]}" --noise depth --quiet "${CSE_BAG_LOOK[@]}" \
    > "$out/logs/gen_$name.log"
}
