# shellcheck shell=bash
# Activates the ros_pose_estimation development environment. Source it (bash):
#
#   source scripts/env.sh
#
# - sources the system ROS 2 (/opt/ros/<distro>/setup.bash) if scripts/setup_env.sh chose one,
# - activates .venv,
# - with the PyPI ROS wheels: puts the wheels' libraries and the locally generated interface
#   packages (.ros_interfaces/install: tf2_msgs, vision_msgs) on LD_LIBRARY_PATH, PYTHONPATH,
#   AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH,
# - defaults RMW_IMPLEMENTATION=rmw_fastrtps_cpp and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
#   (values already set in the shell are kept).
# Sourcing it again is harmless. It never exits the calling shell; on failure it returns 1.

_rpe_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"

_rpe_prepend() {  # _rpe_prepend VAR DIR: put DIR first in the :-separated VAR (no duplicates)
  local var="$1" dir="$2" current
  current="${!var:-}"
  case ":$current:" in
    *":$dir:"*) ;;
    *) export "$var=$dir${current:+:$current}" ;;
  esac
}

_rpe_env() {
  local venv="$_rpe_root/.venv" env_file had_nounset=0 libs
  env_file="$venv/ros_pose_estimation_env.sh"
  if [[ ! -f "$env_file" ]]; then
    echo "scripts/env.sh: no environment yet; run: bash scripts/setup_env.sh" >&2
    return 1
  fi
  local RPE_ROS_SETUP="" RPE_PY_VER="" RPE_IFACE_PREFIX="" RPE_IFACE_SITE=""
  # shellcheck disable=SC1090
  source "$env_file"

  # ROS setup scripts and venv's activate read unset variables: relax `set -u` meanwhile.
  if [[ $- == *u* ]]; then had_nounset=1; set +u; fi
  if [[ -n "$RPE_ROS_SETUP" ]]; then
    # shellcheck disable=SC1090
    source "$RPE_ROS_SETUP"
  fi
  # shellcheck disable=SC1091
  source "$venv/bin/activate"
  if ((had_nounset)); then set -u; fi

  if [[ -n "$RPE_IFACE_PREFIX" ]]; then
    # Libraries of the ros-* wheels: <venv>/lib and site-packages/ros_*.libs. The wheels'
    # bootstrapper would otherwise re-exec every Python process to add exactly these.
    for libs in "$venv"/lib/python"$RPE_PY_VER"/site-packages/ros_*.libs; do
      if [[ -d "$libs" ]]; then _rpe_prepend LD_LIBRARY_PATH "$libs"; fi
    done
    _rpe_prepend LD_LIBRARY_PATH "$venv/lib"
    _rpe_prepend LD_LIBRARY_PATH "$RPE_IFACE_PREFIX/lib"
    export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
    _rpe_prepend PYTHONPATH "$RPE_IFACE_SITE"
    _rpe_prepend AMENT_PREFIX_PATH "$venv"
    _rpe_prepend AMENT_PREFIX_PATH "$RPE_IFACE_PREFIX"
    _rpe_prepend CMAKE_PREFIX_PATH "$venv"
    _rpe_prepend CMAKE_PREFIX_PATH "$RPE_IFACE_PREFIX"
  fi

  export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
  export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
  export ROS_POSE_ESTIMATION_ENV=1
}

# Called as an `if` condition so that a caller's `set -e` cannot abort half-way.
if _rpe_env; then
  unset -f _rpe_env _rpe_prepend
  unset _rpe_root
else
  unset -f _rpe_env _rpe_prepend
  unset _rpe_root
  # `return` works when sourced; `exit` covers `bash scripts/env.sh` (a no-op subshell).
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
