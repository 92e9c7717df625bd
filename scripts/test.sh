#!/usr/bin/env bash
# The README's TEST command: set up the environment (idempotent, seconds when nothing
# changed), lint, run the test suite. Extra arguments are passed to pytest, e.g.
#   bash scripts/test.sh -k interfaces -x
# Exits non-zero if the set-up, ruff or pytest fails, and also when pytest collects no tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup_env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# setup_env.sh has just checked that rclpy and the interfaces import: ROS tests must run,
# not skip.
export ROS_POSE_ESTIMATION_REQUIRE_ROS=1

status=0
echo "== ruff check ."
ruff check . || status=1

echo "== python -m pytest -q $*"
pytest_status=0
python -m pytest -q "$@" || pytest_status=$?
if ((pytest_status == 5)); then
  echo "pytest collected no tests: counting that as a failure" >&2
fi
((pytest_status == 0)) || status=1

if ((status)); then
  echo "== FAILED (ruff and/or pytest, see above)" >&2
else
  echo "== all checks passed"
fi
exit "$status"
