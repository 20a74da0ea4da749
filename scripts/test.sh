#!/usr/bin/env bash
# `make test`: start the test stack (PostgreSQL 15433, Redis 16380, and a Redis Cluster on
# 17101-17106), then
#   1. `swift test $SWIFT_TEST_FLAGS`: the whole suite on the single Redis (the cluster's own
#      client tests run here too);
#   2. the suites tagged `.redisCluster` (those that touch Redis) again, with every app instance
#      and test client on the cluster (BOXOFFICE_TEST_REDIS_MODE=cluster);
#   3. the suites tagged `.postgresHA` (holds, money, events) again on PostgreSQL under Patroni (scripts/patroni.sh
#      test: etcd 12479, nodes 15451-15453), with the failover suite that kills, switches over and
#      cuts off its nodes (BOXOFFICE_TEST_PG_MODE=ha, DATABASE_URL naming the three nodes);
#   4. the schemathesis fuzz run (scripts/fuzz.sh; FUZZ=0 skips it);
#   5. the browser tests: chromium headless on / and /admin (scripts/browser.sh; BROWSER=0 skips);
# and always stops the stack again — on success, failure, Ctrl-C or SIGTERM. Exits non-zero
# when any of them failed. REDIS_MODE=cluster runs only step 2 (and the cluster client tests),
# PG_MODE=ha only step 3.
#
# Exported to the tests:
#   BOXOFFICE_TEST_DATABASE_URL         postgres://boxoffice:boxoffice@127.0.0.1:15433/boxoffice
#   BOXOFFICE_TEST_REDIS_URL            redis://127.0.0.1:16380/0
#   BOXOFFICE_TEST_REDIS_CLUSTER_NODES  127.0.0.1:17101,...,127.0.0.1:17106
#   BOXOFFICE_TEST_BINARY               the built boxoffice (set here; the crash tests run it as a process)
#   BOXOFFICE_SERVICES_SCRIPT           absolute path of scripts/services.sh
#     (e.g. "$BOXOFFICE_SERVICES_SCRIPT" test restart redis)
#   in step 3: BOXOFFICE_TEST_PG_MODE=ha, and BOXOFFICE_TEST_DATABASE_URL naming pg1..pg3
#     (postgres://boxoffice:boxoffice@127.0.0.1:15451,...,127.0.0.1:15453/boxoffice?target_session_attrs=read-write)
# Reads: SWIFT_TEST_FLAGS (word-split; default --no-parallel, see the Makefile), PG_PORT / REDIS_PORT,
# REDIS_MODE, PG_MODE, KEEP_TEST_SERVICES=1 (leave the stack running afterwards, for debugging).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES="$BOXOFFICE_ROOT/scripts/services.sh"
CLUSTER="$BOXOFFICE_ROOT/scripts/cluster.sh"
PATRONI="$BOXOFFICE_ROOT/scripts/patroni.sh"
REDIS_MODE="${REDIS_MODE:-single}"
[[ "$REDIS_MODE" == single || "$REDIS_MODE" == cluster ]] || die "REDIS_MODE must be single or cluster (got '$REDIS_MODE')"
PG_MODE="${PG_MODE:-single}"
[[ "$PG_MODE" == single || "$PG_MODE" == ha ]] || die "PG_MODE must be single or ha (got '$PG_MODE')"
[[ "$PG_MODE" == single || "$REDIS_MODE" == single ]] || die "PG_MODE=ha and REDIS_MODE=cluster select different passes; give one"
# The suites of the second and third passes are declared on the suites themselves:
# `@Suite(..., .tags(.redisCluster))` runs again on the cluster, `.tags(.postgresHA)` under Patroni
# (Tests/TestSupport/StorePassTags.swift). This reads each tagged @Suite's struct name.
tagged_suites() {
  awk -v tag=".$1" '
    /^ *@Suite\(/ { tagged = index($0, tag) > 0; pending = 1; next }
    pending && /^ *(final )?(struct|class|enum) / {
      if (tagged) { name = $0; sub(/^ *(final )?(struct|class|enum) /, "", name); sub(/[^A-Za-z0-9_].*/, "", name); print name }
      pending = 0
    }' $(find "$BOXOFFICE_ROOT/Tests" -name '*.swift') | sort -u | paste -sd'|'
}
CLUSTER_SUITES="$(tagged_suites redisCluster)"
HA_SUITES="$(tagged_suites postgresHA)"
[[ -n "$CLUSTER_SUITES" && -n "$HA_SUITES" ]] || die "no suites tagged .redisCluster or .postgresHA under Tests/"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${KEEP_TEST_SERVICES:-0}" == 1 ]]; then
    log "KEEP_TEST_SERVICES=1: leaving the test stack running (make stop-test)"
  else
    "$SERVICES" test stop || warn "could not stop the test stack"
    "$CLUSTER" test stop || warn "could not stop the test cluster"
    "$PATRONI" test stop || warn "could not stop the test PostgreSQL HA cluster"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every run starts from empty servers: data left by earlier runs (hundreds of fixture concerts,
# each promoted on every tick) would make later runs slower and their timing tests flaky.
# The cluster first: its data lives under the test stack's directory, which destroy removes.
"$CLUSTER" test destroy
"$PATRONI" test destroy
"$SERVICES" test destroy
"$SERVICES" test start
if [[ "$PG_MODE" == single ]]; then "$CLUSTER" test start; fi

stack_ports test
export BOXOFFICE_TEST_DATABASE_URL="postgres://boxoffice:boxoffice@127.0.0.1:$STACK_PG_PORT/boxoffice"
export BOXOFFICE_TEST_REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
if [[ "$PG_MODE" == single ]]; then export BOXOFFICE_TEST_REDIS_CLUSTER_NODES="$("$CLUSTER" test nodes)"; fi
export BOXOFFICE_SERVICES_SCRIPT="$SERVICES"

cd "$BOXOFFICE_ROOT"
# The webhook receiver of the tests (scripts/webhook-receiver.py) checks signatures with PyPI's standardwebhooks.
python3 -c "import standardwebhooks" 2>/dev/null || python3 -m pip install --quiet standardwebhooks
# The crash tests run the binary as a process of their own (Tests/TestSupport/InstanceProcess.swift);
# `swift test` builds only what the test bundle links.
swift build --product boxoffice
BOXOFFICE_TEST_BINARY="$(swift build --show-bin-path)/boxoffice"
export BOXOFFICE_TEST_BINARY
status=0
if [[ "$REDIS_MODE" == single && "$PG_MODE" == single ]]; then
  # shellcheck disable=SC2086
  swift test ${SWIFT_TEST_FLAGS---no-parallel} || status=$?
  if (( status == 0 )); then log "swift test passed"; else log "swift test failed (exit $status)"; fi
fi
if [[ "$PG_MODE" == single ]]; then
  cluster_status=0
  log "the Redis suites again, on the cluster ($BOXOFFICE_TEST_REDIS_CLUSTER_NODES)"
  # shellcheck disable=SC2086
  BOXOFFICE_TEST_REDIS_MODE=cluster swift test ${SWIFT_TEST_FLAGS---no-parallel} --filter "$CLUSTER_SUITES" || cluster_status=$?
  if (( cluster_status == 0 )); then log "swift test on the cluster passed"; else log "swift test on the cluster failed (exit $cluster_status)"; fi
  if (( status == 0 )); then status=$cluster_status; fi
  # The cluster's six nodes are not needed any more: the HA pass has two cores to share with Patroni.
  "$CLUSTER" test stop || true
fi
if [[ "$REDIS_MODE" == single ]]; then
  ha_status=0
  "$PATRONI" test start
  log "the hold and money suites again, on PostgreSQL under Patroni ($("$PATRONI" test url))"
  # shellcheck disable=SC2086
  BOXOFFICE_TEST_PG_MODE=ha BOXOFFICE_TEST_DATABASE_URL="$("$PATRONI" test url)" \
    swift test ${SWIFT_TEST_FLAGS---no-parallel} --filter "$HA_SUITES" || ha_status=$?
  if (( ha_status == 0 )); then log "swift test on PostgreSQL HA passed"; else log "swift test on PostgreSQL HA failed (exit $ha_status)"; fi
  if (( status == 0 )); then status=$ha_status; fi
  "$PATRONI" test stop || true
fi
if [[ "$PG_MODE" == ha || "$REDIS_MODE" == cluster ]]; then exit "$status"; fi
if [[ "${FUZZ:-1}" != 0 ]]; then
  fuzz_status=0
  "$BOXOFFICE_ROOT/scripts/fuzz.sh" || fuzz_status=$?
  if (( fuzz_status == 0 )); then log "schemathesis passed"; else log "schemathesis failed (exit $fuzz_status)"; fi
  if (( status == 0 )); then status=$fuzz_status; fi
fi
if [[ "${BROWSER:-1}" != 0 ]]; then
  browser_status=0
  "$BOXOFFICE_ROOT/scripts/browser.sh" || browser_status=$?
  if (( browser_status == 0 )); then log "browser tests passed"; else log "browser tests failed (exit $browser_status)"; fi
  if (( status == 0 )); then status=$browser_status; fi
fi
exit "$status"
