# shellcheck shell=bash
# The RGB-D sets and the evaluation that the depth-step scripts share (sourced, not run):
# scripts/cse_handle_depth.sh, cse_laptop_planes.sh, cse_box_faces.sh, cse_upright_support.sh.
#   cse_set C SET: make out/data/<C>_rgbd_<SET> once; SET is one of
#     val      other instances, 320x240 (seed 1000, as scripts/cse_inference_tau.sh)
#     val640   other instances, 640x480, photo backgrounds, farther (seed 1500)
#     final    the README's seed-2000 test set (as scripts/cse_bundled_models.sh)
#     ood      another camera: 640x480, f ~ 600 px, photo backgrounds, farther (seed 3000,
#              the settings of scripts/cse_ood_eval.sh)
#     ood_look the same with dim, tinted, blurred, noisy, JPEG-compressed colour
#     ood_sensor the same scenes as ood through another depth camera (CSE_SENSOR: correlated
#              noise, edge fattening, flying pixels, depth shifted against colour)
#     final_sensor the scenes of final through that camera
#   cse_eval C SET JSON ARGS...: evaluate-cse of models/cse/<C>.pt on 100 objects of that set,
#     one thread, ARGS (e.g. --set NAME=VALUE, --box-only) passed on, figures to JSON
#   cse_off_on TAG FLAG C SET SUFFIX ARGS...: cse_eval with a step off and at its default
#   cse_bags_eval C JSON ARGS...: the held-out recordings of cse_bn_adaptation.sh, figures to JSON
#     (made first when missing: cse_bags_heldout C)
#   cse_laptop_step TAG FLAG val|test: a laptop depth step off and on, on the validation sets
#     (val, val640, the first 360 objects of val1700) or the test sets (final, ood, ood_look)
#     then the README's laptop files again (eval_defaults.sh, cse_gravity.sh, cse_mask_spill.sh)
# CSE_OFF: the value that turns FLAG off in cse_off_on / cse_bags_off_on (default false; 0 for
#   a number such as box_depth_jump)
#   cse_bags_off_on TAG FLAG C: the same on the held-out recordings of cse_bn_adaptation.sh
# shellcheck source=scripts/cse_bag_gen.sh
source scripts/cse_bag_gen.sh
[[ -d out/data/photos ]] || { echo "out/data/photos missing: run scripts/nemo_pretrained_experiment.sh first" >&2; exit 2; }
CSE_WIDE=(--instances 10 --images 60 --split test --width 640 --height 480 --hfov 56.1
          --fill 0.2..0.6 --backgrounds out/data/photos --no-progress)
CSE_LOOK=("${CSE_BAG_LOOK[@]}")  # the other look: the recordings' (scripts/cse_bag_gen.sh)
CSE_SENSOR=(--depth-noise-scale 3 --depth-fatten 2 --depth-flying 0.3 --depth-shift 1.5,1)
cse_set() {
  local c=$1 set=$2 args
  case $set in
    val) args=(--instances 10 --images 60 --seed 1000 --split test --no-progress) ;;
    val640) args=("${CSE_WIDE[@]}" --seed 1500) ;;
    final) args=(--instances 10 --images 150 --seed 2000 --split test --no-progress) ;;
    ood) args=("${CSE_WIDE[@]}" --seed 3000) ;;
    ood_look) args=("${CSE_WIDE[@]}" --seed 3000 "${CSE_LOOK[@]}") ;;
    ood_sensor) args=("${CSE_WIDE[@]}" --seed 3000 "${CSE_SENSOR[@]}") ;;
    final_sensor) args=(--instances 10 --images 150 --seed 2000 --split test --no-progress
                        "${CSE_SENSOR[@]}") ;;
    *) echo "cse_set: unknown set $set" >&2; return 2 ;;
  esac
  [[ -d out/data/${c}_rgbd_$set/test ]] || generate-dataset --category "$c" "${args[@]}" \
    --out "out/data/${c}_rgbd_$set" > /dev/null
}
cse_eval() {
  local c=$1 set=$2 json=$3; shift 3
  cse_set "$c" "$set"
  evaluate-cse --data "out/data/${c}_rgbd_$set" --split test --checkpoint "models/cse/$c.pt" \
    --max-objects 100 --threads 1 --quiet "$@" --json "$json"
}
cse_off_on() {  # cse_off_on TAG FLAG C SET SUFFIX ARGS...: cse_eval with FLAG off
  # (--set FLAG=false) and at its default, to
  # benchmarks/results/cse_<TAG>_<SET>_{off,on}<SUFFIX>_<C>_cpu.json
  local tag=$1 flag=$2 c=$3 set=$4 suffix=$5; shift 5
  cse_eval "$c" "$set" "benchmarks/results/cse_${tag}_${set}_off${suffix}_${c}_cpu.json" \
    --set "$flag=${CSE_OFF:-false}" "$@" > /dev/null
  cse_eval "$c" "$set" "benchmarks/results/cse_${tag}_${set}_on${suffix}_${c}_cpu.json" "$@" \
    > /dev/null
}
cse_bags_heldout() {  # cse_bags_heldout C: the six held-out recordings of
  # scripts/cse_bag_adaptation.sh (same seeds, objects and look), made where missing
  local c=$1 s
  for s in 121 122 123; do cse_bag_gen "$c" "heldout_s$s" "$s"; done
  for s in 221 222 223; do cse_bag_gen "$c" "revisit_s$s" "$s" "${s#2}"; done
}
cse_bags_eval() {  # cse_bags_eval C JSON ARGS...: models/cse/<C>.pt on the held-out recordings
  # of scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every 3rd frame, box-only detections
  # as recorded), one thread, ARGS (e.g. --set NAME=VALUE) passed on, figures to JSON
  local c=$1 json=$2 out=out/cse_bags/$1
  shift 2
  cse_bags_heldout "$c"
  python -m offline_training.bags.evaluate_bag "$out"/bags/heldout_s12{1,2,3} \
    "$out"/bags/revisit_s22{1,2,3} --checkpoint "models/cse/$c.pt" --method cse \
    --every-nth 3 --cache "$out/cache" --threads 1 "$@" --json "$json"
}
cse_bags_off_on() {  # cse_bags_off_on TAG FLAG C: the held-out recordings of
  # scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every 3rd frame, box-only detections as
  # recorded) with FLAG off and at its default; figures and the paired bootstrap over object
  # tracks (benchmarks/bag_adaptation_table.py) to benchmarks/results/cse_<TAG>_bags_<C>_cpu.json
  local tag=$1 flag=$2 c=$3 setting extra out=out/cse_bags/$3
  for setting in off on; do
    extra=(); [[ $setting == off ]] && extra=(--set "$flag=${CSE_OFF:-false}")
    cse_bags_eval "$c" "$out/${tag}_$setting.json" "${extra[@]}" | tail -n 2
  done
  python - "$out" "$tag" "benchmarks/results/cse_${tag}_bags_${c}_cpu.json" <<'PY'
import json, sys
from pathlib import Path
from benchmarks.bag_adaptation_table import figures, median_change
root, tag, dest = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
off, on = (json.loads((root / f"{tag}_{s}.json").read_text()) for s in ("off", "on"))
result = {"recordings": "heldout_s121-s123, revisit_s221-s223 (every 3rd frame)",
          "off": figures(off), "on": figures(on), "change": median_change([off], [on])}
print(json.dumps(result))
dest.write_text(json.dumps(result, indent=1))
PY
}
cse_laptop_step() {  # cse_laptop_step TAG FLAG val|test: the laptop model with the step FLAG
  # off and at its default -> benchmarks/results/cse_<TAG>_<set>_{off,on}_laptop_cpu.json
  local tag=$1 flag=$2 mode=$3 setting
  case $mode in
    val)
      cse_off_on "$tag" "$flag" laptop val "" &
      cse_off_on "$tag" "$flag" laptop val640 ""
      wait
      [[ -d out/data/laptop_rgbd_val1700/test ]] || bash scripts/cse_far_laptop.sh val
      for setting in off on; do
        local extra=()
        [[ $setting == off ]] && extra=(--set "$flag=${CSE_OFF:-false}")
        evaluate-cse --data out/data/laptop_rgbd_val1700 --split test \
          --checkpoint models/cse/laptop.pt --max-objects 360 --threads 1 --quiet "${extra[@]}" \
          --json "benchmarks/results/cse_${tag}_val1700_${setting}_laptop_cpu.json" > /dev/null &
      done
      wait
      ;;
    test)
      cse_off_on "$tag" "$flag" laptop final "" &
      cse_off_on "$tag" "$flag" laptop ood ""
      wait
      cse_off_on "$tag" "$flag" laptop ood_look ""
      bash scripts/eval_defaults.sh rgbd laptop
      bash scripts/cse_gravity.sh laptop final ood ood_look bags
      bash scripts/cse_mask_spill.sh test laptop
      ;;
    *) echo "cse_laptop_step: val or test, got $mode" >&2; return 2 ;;
  esac
  python -m benchmarks.cse_table "benchmarks/results/cse_${tag}_"*_laptop_cpu.json
}
