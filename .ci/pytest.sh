#!/usr/bin/env bash
# Runs pytest from the project venv. Exit code 5 ("no tests collected") is turned into a
# clear failure: a suite that runs nothing must never look green.
set -u
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests for: $*" >&2
  exit 1
fi
exit "$rc"
