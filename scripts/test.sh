#!/usr/bin/env bash
# `make test`: start the test stack (PostgreSQL 55433, Redis 56380), run
# `swift test $SWIFT_TEST_FLAGS` against it, then the schemathesis fuzz run
# (scripts/fuzz.sh; FUZZ=0 skips it), and always stop the stack again — on
# success, failure, Ctrl-C or SIGTERM. Exits non-zero when either failed.
#
# Exported to the tests:
#   BOXOFFICE_TEST_DATABASE_URL  postgres://boxoffice:boxoffice@127.0.0.1:55433/boxoffice
#   BOXOFFICE_TEST_REDIS_URL     redis://127.0.0.1:56380/0
#   BOXOFFICE_SERVICES_SCRIPT    absolute path of scripts/services.sh
#     (e.g. "$BOXOFFICE_SERVICES_SCRIPT" test restart redis)
# Reads: SWIFT_TEST_FLAGS (word-split; default --no-parallel, see the Makefile), PG_PORT / REDIS_PORT, KEEP_TEST_SERVICES=1
# (leave the stack running afterwards, for debugging).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES="$BOXOFFICE_ROOT/scripts/services.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${KEEP_TEST_SERVICES:-0}" == 1 ]]; then
    log "KEEP_TEST_SERVICES=1: leaving the test stack running (make stop-test)"
  else
    "$SERVICES" test stop || warn "could not stop the test stack"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every run starts from empty servers: data left by earlier runs (hundreds of fixture concerts,
# each promoted on every tick) would make later runs slower and their timing tests flaky.
"$SERVICES" test destroy
"$SERVICES" test start

stack_ports test
export BOXOFFICE_TEST_DATABASE_URL="postgres://boxoffice:boxoffice@127.0.0.1:$STACK_PG_PORT/boxoffice"
export BOXOFFICE_TEST_REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
export BOXOFFICE_SERVICES_SCRIPT="$SERVICES"

cd "$BOXOFFICE_ROOT"
status=0
# shellcheck disable=SC2086
swift test ${SWIFT_TEST_FLAGS---no-parallel} || status=$?
if (( status == 0 )); then
  log "swift test passed"
else
  log "swift test failed (exit $status)"
fi
if [[ "${FUZZ:-1}" != 0 ]]; then
  fuzz_status=0
  "$BOXOFFICE_ROOT/scripts/fuzz.sh" || fuzz_status=$?
  if (( fuzz_status == 0 )); then log "schemathesis passed"; else log "schemathesis failed (exit $fuzz_status)"; fi
  if (( status == 0 )); then status=$fuzz_status; fi
fi
exit "$status"
