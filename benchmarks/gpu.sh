#!/usr/bin/env bash
# GPU figures of issue 12 (item 7) in ONE call of the device tool, under 8 minutes:
#
#   run: bash benchmarks/gpu.sh                      (the device tool; outputs come back from $OUT)
#   run: bash benchmarks/gpu.sh, carry ["out/gpu_data"]   (with a test set prepared here, below)
#   bash benchmarks/gpu.sh --prepare-data            (here: write that test set to out/gpu_data)
#   GPU_SH_DEVICE=cpu GPU_SH_QUICK=1 bash benchmarks/gpu.sh   (smoke test on a CPU, ~2-3 min)
#
# Steps (each with its own timeout, capped by what is left of GPU_SH_BUDGET; a failed step does
# not stop the others):
#   env       python, torch, CUDA device, which optional packages import -> "env" in summary.json
#   node      benchmarks.bench_node, 1 and 5 objects, when rclpy, the interfaces and rosbags
#             import; otherwise `pipeline`: benchmarks.bench_pipeline (the node's PosePipeline
#             from config/pose.yaml on a synthetic 640x480 frame, no ROS) -> node.json or
#             pipeline.json
#   cse       benchmarks.bench_cse_latency, the bundled RGB-D models (models/cse) -> cse_latency.json
#   data      the test set, per category (mug, camera, bottle): out/gpu_data/<c> when carried,
#             else generated when open3d imports (like the OOD set of
#             scripts/nemo_pretrained_experiment.sh: 10 held-out instances, seed 1000, 640x480,
#             hfov 56.1, fill 0.2..0.6, scikit-image photo backgrounds, JPEG; 40 images, not
#             120), else skipped with the reason
#   nemo_<c>  evaluate-nemo --preset default --preset reference on models/nemo/<c>.pt (as they
#             are in the tree), at most GPU_SH_MAX_OBJECTS objects -> nemo_eval_<c>.json
#   diffusion the Zero-1-to-3 and ControlNet generators with tiny random models (issue 15's
#             smoke run: data flow and per-step overhead, fp16 on CUDA), when diffusers and
#             transformers import (the H200 image lacks diffusers: carry its wheel, see
#             BENCHMARKS.md "GPU figures"); without open3d ControlNet enhances the carried
#             test set's mug images -> diffusion.json
#   summary   every step's status and wall time, speed-up of default over reference per
#             category (same run), headline latencies, the env -> summary.json; log -> log.txt
# At most 8 files come back from $OUT, so there are never more (summary, log, three
# nemo_eval, node or pipeline, cse_latency, diffusion). Never installs anything; PYTHONPATH =
# the repo.
#
# Settings (environment): OUT (default out/gpu), GPU_SH_DEVICE (cuda), GPU_SH_QUICK (0; 1:
# tiny sizes), GPU_SH_BUDGET (seconds for all steps, 420), GPU_SH_IMAGES (test images per
# category: 40; --prepare-data: 12), GPU_SH_MAX_OBJECTS (30), GPU_SH_THREADS (torch CPU
# threads, 0: default), GPU_SH_NODE (auto, node, pipeline), GPU_SH_WORK (scratch folder),
# PYTHON (python3).
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
CATEGORIES=(mug camera bottle)
QUICK="${GPU_SH_QUICK:-0}"
DEVICE="${GPU_SH_DEVICE:-cuda}"
THREADS="${GPU_SH_THREADS:-0}"
CARRIED="$ROOT/out/gpu_data"
if [[ "$QUICK" == 1 ]]; then
  WIDTH=320 HEIGHT=240 IMAGES="${GPU_SH_IMAGES:-3}" MAX_OBJECTS="${GPU_SH_MAX_OBJECTS:-2}"
  FRAMES=2 WARMUP=1 NODE_SECONDS=5
else
  WIDTH=640 HEIGHT=480 IMAGES="${GPU_SH_IMAGES:-40}" MAX_OBJECTS="${GPU_SH_MAX_OBJECTS:-30}"
  FRAMES=20 WARMUP=3 NODE_SECONDS=20
fi

has() { "$PY" -c "import $1" >/dev/null 2>&1; }

photos() {  # photos DIR: scikit-image's bundled photos as backgrounds (the OOD set's)
  "$PY" - "$1" <<'EOF'
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "hubble_deep_field",
             "immunohistochemistry", "retina", "coins", "page", "text", "brick", "grass",
             "gravel", "camera", "moon", "stereo_motorcycle", "clock", "logo", "colorwheel"):
    img = getattr(data, name)()
    img = np.asarray(img[0] if isinstance(img, tuple) else img)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img[..., :3]
    cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
EOF
}

generate() {  # generate DEST IMAGES [PHOTOS]: the OOD-like test sets, categories in parallel
  local dest=$1 images=$2 bg=() pids=() c rc=0
  [[ -n "${3:-}" ]] && bg=(--backgrounds "$3")
  for c in "${CATEGORIES[@]}"; do
    rm -rf "${dest:?}/$c"
    "$PY" -m offline_training.synthetic.cli --category "$c" --instances 10 --images "$images" \
      --out "$dest/$c" --seed 1000 --split test --width "$WIDTH" --height "$HEIGHT" \
      --hfov 56.1 --fill 0.2..0.6 "${bg[@]}" --jpg --no-progress &
    pids+=($!)
  done
  for c in "${pids[@]}"; do wait "$c" || rc=1; done
  return $rc
}

if [[ "${1:-}" == --prepare-data ]]; then
  # Here, where open3d is installed: a compact test set the device tool can carry (rgb JPEG and
  # the JSON annotations; no depth, masks or model files: evaluate-nemo needs none of them).
  IMAGES="${GPU_SH_IMAGES:-12}"
  work="$(mktemp -d)"
  bg=""
  if has skimage && photos "$work/photos"; then bg="$work/photos"; fi
  generate "$CARRIED" "$IMAGES" "$bg" || { echo "gpu.sh: generate-dataset failed" >&2; exit 1; }
  rm -rf "$work"
  for c in "${CATEGORIES[@]}"; do
    rm -rf "$CARRIED/$c"/test/*/{depth,mask,mask_visib} "$CARRIED/$c"/models/*.ply
  done
  du -sh "$CARRIED"
  if git rev-parse --git-dir >/dev/null 2>&1; then
    { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s \
      2>/dev/null | awk -v d="$(du -sb "$CARRIED" | cut -f1)" '{s += $1} END {
        printf "working tree %.1f MiB + out/gpu_data %.1f MiB = %.1f MiB (the tool carries at most 64)\n",
          s / 1048576, d / 1048576, (s + d) / 1048576}'
  fi
  echo 'now: run with command "bash benchmarks/gpu.sh" and carry ["out/gpu_data"]'
  exit 0
fi

OUT="${OUT:-$ROOT/out/gpu}"
BUDGET="${GPU_SH_BUDGET:-420}"
if [[ -n "${GPU_SH_WORK:-}" ]]; then
  WORK="$GPU_SH_WORK"
else
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/{env.json,summary.json,log.txt,pipeline.json,node.json,cse_latency.json,diffusion.json} \
  "$OUT"/nemo_eval_*.json
LOG="$OUT/log.txt"
STEPS="$WORK/steps.tsv"
: >"$STEPS"
START=$SECONDS

record() {  # record NAME STATUS SECONDS NOTE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$STEPS"
  echo "--- $1: $2 (${3} s) $4" | tee -a "$LOG"
}

step() {  # step NAME TIMEOUT CMD...: run CMD under min(TIMEOUT, budget left), logged, recorded
  local name=$1 limit=$2 left t0 rc status note=""
  shift 2
  left=$((BUDGET - (SECONDS - START)))
  ((limit > left)) && limit=$left
  if ((limit < 10)); then
    record "$name" skipped 0 "no time left in the ${BUDGET} s budget"
    return 1
  fi
  echo "=== $name (timeout ${limit} s): $*" | tee -a "$LOG"
  t0=$SECONDS
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout note="killed after ${limit} s" ;;
    *) status=failed note="exit code $rc" ;;
  esac
  record "$name" "$status" $((SECONDS - t0)) "$note"
  return "$rc"
}

echo "gpu.sh: device $DEVICE, quick $QUICK, budget ${BUDGET} s, out $OUT" | tee "$LOG"

# ---------------------------------------------------------------- env
step env 60 "$PY" - "$WORK/env.json" "$DEVICE" <<'EOF'
import hashlib, importlib, json, os, platform, subprocess, sys
from pathlib import Path

env = {"python": sys.version.split()[0], "executable": sys.executable,
       "platform": platform.platform(), "cpu_count": os.cpu_count(), "device": sys.argv[2],
       "settings": {k: v for k, v in os.environ.items() if k.startswith("GPU_SH_")}}
try:
    env["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                   text=True, timeout=10).stdout.strip() or None
    status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                            timeout=10).stdout
    env["uncommitted_files"] = len(status.splitlines()) if env["commit"] else None
except (OSError, subprocess.SubprocessError):
    env["commit"] = env["uncommitted_files"] = None
imports = {}
for name in ("numpy", "scipy", "cv2", "yaml", "skimage", "open3d", "rosbags", "rclpy",
             "sensor_msgs.msg", "vision_msgs.msg", "torchvision"):
    try:
        mod = importlib.import_module(name)
        imports[name] = getattr(mod, "__version__", True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
        imports[name] = f"no: {type(exc).__name__}: {exc}"[:200]
env["imports"] = imports
import torch

env["torch"] = torch.__version__
env["cuda_available"] = torch.cuda.is_available()
env["torch_cuda"] = torch.version.cuda
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    env["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}",
                  "memory_gib": round(p.total_memory / 2**30, 1),
                  "multiprocessors": p.multi_processor_count,
                  "cudnn": torch.backends.cudnn.version()}
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    env["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
except (OSError, subprocess.SubprocessError) as exc:
    env["nvidia_smi"] = f"unavailable: {exc}"
env["models"] = {p.name: {"bytes": p.stat().st_size,
                          "sha256_12": hashlib.sha256(p.read_bytes()).hexdigest()[:12]}
                 for p in sorted(Path("models/nemo").glob("*.pt"))}
Path(sys.argv[1]).write_text(json.dumps(env, indent=2))
print(json.dumps({k: env[k] for k in ("python", "torch", "cuda_available", "commit")}))
print("gpu:", env.get("gpu"), "| imports:", {k: v for k, v in imports.items()})
EOF

# ---------------------------------------------------------------- node / pipeline
node_mode="${GPU_SH_NODE:-auto}"
if [[ "$node_mode" == auto ]]; then
  node_mode=pipeline
  if has rclpy && has sensor_msgs.msg && has vision_msgs.msg && has rosbags; then
    node_mode=node
  fi
fi
if [[ "$node_mode" == node ]]; then
  step node 180 "$PY" -m benchmarks.bench_node --objects 1 5 --seconds "$NODE_SECONDS" \
    --device "$DEVICE" --threads "$THREADS" --json "$OUT/node.json"
else
  record node skipped 0 "rclpy / sensor_msgs / vision_msgs / rosbags do not all import (or GPU_SH_NODE=pipeline): pipeline step instead"
  step pipeline 120 "$PY" -m benchmarks.bench_pipeline --objects 1 5 --frames "$FRAMES" \
    --warmup "$WARMUP" --device "$DEVICE" --threads "$THREADS" --width "$WIDTH" \
    --height "$HEIGHT" --json "$OUT/pipeline.json"
fi

# ---------------------------------------------------------------- cse
step cse 90 "$PY" -m benchmarks.bench_cse_latency --objects 1 5 --frames "$FRAMES" \
  --warmup "$WARMUP" --device "$DEVICE" --threads "$THREADS" --width "$WIDTH" \
  --height "$HEIGHT" --checkpoint models/cse/mug.pt --checkpoint models/cse/bottle.pt \
  --checkpoint models/cse/camera.pt --json "$OUT/cse_latency.json"

# ---------------------------------------------------------------- diffusion
if has diffusers && has transformers; then
  half=""
  [[ "$DEVICE" == cuda ]] && half="--fp16"
  n_views=4 n_images=2 z_steps=50 c_steps=30
  [[ "$QUICK" == 1 ]] && n_views=2 n_images=1 z_steps=3 c_steps=3
  cn_data=()  # without open3d (the renderer) ControlNet enhances the carried test set's images
  if ! has open3d && [[ -d "$CARRIED/mug/test" ]]; then
    cn_data=(--controlnet-data "$CARRIED/mug" --controlnet-split test)
  fi
  step diffusion 120 "$PY" -m benchmarks.diffusion_tiny --views "$n_views" \
    --images "$n_images" --zero123-steps "$z_steps" --controlnet-steps "$c_steps" \
    "${cn_data[@]}" --device "$DEVICE" $half --json "$OUT/diffusion.json"
else
  record diffusion skipped 0 "diffusers / transformers do not import here"
fi

# ---------------------------------------------------------------- data
DATA=""
if [[ -d "$CARRIED" ]]; then
  DATA="$CARRIED"
  record data ok 0 "carried test set out/gpu_data (bash benchmarks/gpu.sh --prepare-data)"
elif has open3d; then
  bg=""
  if has skimage && photos "$WORK/photos" >>"$LOG" 2>&1; then bg="$WORK/photos"; fi
  export -f generate
  export PY WIDTH HEIGHT
  if step data 150 bash -c "CATEGORIES=(${CATEGORIES[*]}); generate '$WORK/data' $IMAGES '$bg'"; then
    DATA="$WORK/data"
  fi
else
  record data skipped 0 "no test set, accuracy and speed-up figures skipped: open3d (the renderer of generate-dataset) does not import here, no out/gpu_data was carried (bash benchmarks/gpu.sh --prepare-data where open3d is installed, then carry it), and the demo bag (data/demo/demo_bag) is a rosbag2 recording with no BOP export of its ground truth that needs the rosbags package to read"
fi

# ---------------------------------------------------------------- nemo
n_left=${#CATEGORIES[@]}
for c in "${CATEGORIES[@]}"; do
  if [[ -z "$DATA" ]]; then
    record "nemo_$c" skipped 0 "no test set (see data)"
  elif [[ ! -f "models/nemo/$c.pt" ]]; then
    record "nemo_$c" skipped 0 "no models/nemo/$c.pt"
  elif [[ ! -d "$DATA/$c/test" ]]; then
    record "nemo_$c" skipped 0 "no $DATA/$c/test"
  else
    # the budget left is shared fairly among the categories still to run
    share=$(((BUDGET - (SECONDS - START) - 15) / n_left))
    ((share > 160)) && share=160
    step "nemo_$c" "$share" "$PY" -m offline_training.nemo.evaluate --data "$DATA/$c" \
      --split test --checkpoint "models/nemo/$c.pt" --preset default --preset reference \
      --max-objects "$MAX_OBJECTS" --device "$DEVICE" --threads "$THREADS" \
      --json "$OUT/nemo_eval_$c.json"
  fi
  n_left=$((n_left - 1))
done

# ---------------------------------------------------------------- summary
"$PY" - "$OUT" "$STEPS" $((SECONDS - START)) "$DEVICE" "$QUICK" "$WORK/env.json" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
from pathlib import Path

out, steps_file, wall, device, quick = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
    sys.argv[4], sys.argv[5] == "1"


def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None


steps = []
for line in Path(steps_file).read_text().splitlines():
    name, status, seconds, note = line.split("\t")
    steps.append({"step": name, "status": status, "seconds": int(seconds), "note": note})
try:
    env = json.loads(Path(sys.argv[6]).read_text())
except (OSError, ValueError):
    env = {}
summary = {"device": device, "gpu": env.get("gpu"), "torch": env.get("torch"),
           "commit": env.get("commit"), "quick": quick, "wall_s": wall, "steps": steps,
           "nemo": {}, "node_or_pipeline": None, "cse": None, "env": env,
           "diffusion": load("diffusion.json")}
for path in sorted(out.glob("nemo_eval_*.json")):
    ev = json.loads(path.read_text())
    for cat, d in ev["summary"].get("default", {}).items():
        if cat == "all":
            continue
        r = ev["summary"].get("reference", {}).get(cat)
        row = {"objects": d["count"], "default_ms_median": d["latency_ms_median"],
               "default_ms_p90": d["latency_ms_p90"], "default_rot_deg": d["median_rot_deg"],
               "default_acc_pi_6": d["acc_pi_6"]}
        if r:
            row.update(reference_ms_median=r["latency_ms_median"],
                       reference_rot_deg=r["median_rot_deg"], reference_acc_pi_6=r["acc_pi_6"],
                       speedup=r["latency_ms_median"] / d["latency_ms_median"],
                       rot_gap_deg=d["median_rot_deg"] - r["median_rot_deg"])
        summary["nemo"][cat] = row
for name, key in (("node.json", "node_or_pipeline"), ("pipeline.json", "node_or_pipeline"),
                  ("cse_latency.json", "cse")):
    data = load(name)
    if data:
        keep = ("objects", "frame_ms_median", "frame_ms_p90", "object_ms_median",
                "latency_median_ms", "latency_p90_ms", "sustained_hz", "cuda_peak_mb")
        summary[key] = {"file": name, "device": data.get("device"),
                        "models": data.get("models") if key == "cse" else None,
                        "results": [{k: r[k] for k in keep if k in r} for r in data["results"]]}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(f"summary ({wall} s, device {device}{', QUICK sizes' if quick else ''}):")
for s in steps:
    print(f"  {s['step']:16s} {s['status']:8s} {s['seconds']:4d} s  {s['note']}")
for cat, row in summary["nemo"].items():
    extra = (f", reference {row['reference_ms_median']:.1f} ms -> speed-up "
             f"{row['speedup']:.1f}x, rot. gap {row['rot_gap_deg']:+.2f} deg"
             if "speedup" in row else "")
    print(f"  nemo {cat}: {row['objects']} objects, default {row['default_ms_median']:.1f} ms "
          f"/ {row['default_rot_deg']:.2f} deg{extra}")
for key in ("node_or_pipeline", "cse"):
    if summary[key]:
        for r in summary[key]["results"]:
            if "frame_ms_median" in r:
                what = f"{r['frame_ms_median']:.1f} ms per frame (median)"
            else:
                what = (f"end-to-end latency {r['latency_median_ms']:.1f} ms (median), "
                        f"{r['sustained_hz']:.2f} Hz sustained")
            print(f"  {summary[key]['file']}: {r['objects']} object(s): {what}")
EOF
echo "gpu.sh: done in $((SECONDS - START)) s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
