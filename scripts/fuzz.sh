#!/usr/bin/env bash
# Schemathesis against Docs/openapi.yaml, as `make test` runs it after swift test (FUZZ=0 skips):
# one instance (the debug build) on the test stack, with a live ACTIVE token that has a balance
# sent as the Authorization header, so the fuzzer reaches holds and payments, not only 401s. All
# phases run, the stateful one following the document's links (dates -> seats -> hold -> get,
# cancel, pay). Fails on any 5xx, any response that breaks the document (status, schema, content
# type, headers). Installs schemathesis from PyPI when missing.
#
# Reads: FUZZ_EXAMPLES (25 per operation and phase), FUZZ_SEED (fixed, so a failure reproduces),
# FUZZ_PORT (18181), PG_PORT / REDIS_PORT (test stack). Report: .data/fuzz/junit.xml, log there.
# A second pass fuzzes the admin routes with the instance's admin token (the first sends them
# the queue token, which they refuse). Report: .data/fuzz/junit-admin.xml. One worker: with two,
# schemathesis 4.32's coverage phase once crashed inside CPython's ast module on these schemas
# ("AST constructor recursion depth mismatch"), a race in the tool, not an answer of the API.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BOXOFFICE_ROOT"

command -v schemathesis >/dev/null || python3 -m pip install --quiet schemathesis
stack_ports test
export DATABASE_URL="postgres://boxoffice:boxoffice@127.0.0.1:$STACK_PG_PORT/boxoffice"
export REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
port="${FUZZ_PORT:-18181}"
base="http://127.0.0.1:$port"
out="$BOXOFFICE_ROOT/.data/fuzz"
mkdir -p "$out"

bin="$(migrated_debug_binary)"

admin_token="fuzz-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HOST=127.0.0.1 PORT="$port" INSTANCE_ID=fuzz LOG_LEVEL=warning ADMIT_PER_SECOND=1000000 ACTIVE_CAPACITY=1000000 \
  ADMIN_TOKEN="$admin_token" "$bin" serve >"$out/instance.log" 2>&1 &
instance=$!
trap 'kill "$instance" 2>/dev/null; wait "$instance" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$base/health/ready" >/dev/null && break
  sleep 0.2
done
curl -sf "$base/health/ready" >/dev/null || die "the fuzz instance did not become ready (see $out/instance.log)"

# A fan of demo concert 1: admitted, with money to pay for what the fuzzer holds.
json() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
user="$(cat /proc/sys/kernel/random/uuid)"
token="$(curl -sf -XPOST "$base/v1/queue/tokens" -H 'Content-Type: application/json' \
  -d "{\"userId\":\"$user\",\"concertId\":1}" | json token)"
for _ in $(seq 50); do
  [[ "$(curl -sf "$base/v1/queue/status" -H "Authorization: Bearer $token" | json status)" == ACTIVE ]] && break
  sleep 0.1
done
curl -sf -XPOST "$base/v1/balance/charge" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"amount":5000000}' >/dev/null || die "could not charge the fuzz user's balance"

log "schemathesis against $base (token of user $user)"
# Leaving the line ends the token the rest of the run needs: it gets a pass of its own below.
schemathesis run "$BOXOFFICE_ROOT/Docs/openapi.yaml" --url "$base" \
  -H "Authorization: Bearer $token" --exclude-operation-id leaveQueue \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_EXAMPLES:-25}" --seed "${FUZZ_SEED:-20261129}" \
  --workers 2 --request-timeout 10 \
  --report junit --report-junit-path "$out/junit.xml"

log "schemathesis: leaving the line, with a waiter's token of its own"
leaver="$(curl -sf -XPOST "$base/v1/queue/tokens" -H 'Content-Type: application/json' \
  -d "{\"userId\":\"$(cat /proc/sys/kernel/random/uuid)\",\"concertId\":1}" | json token)"
schemathesis run "$BOXOFFICE_ROOT/Docs/openapi.yaml" --url "$base" \
  -H "Authorization: Bearer $leaver" --include-operation-id leaveQueue \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${FUZZ_EXAMPLES:-25}" --seed "${FUZZ_SEED:-20261129}" \
  --workers 1 --request-timeout 10 \
  --report junit --report-junit-path "$out/junit-leave.xml"

log "schemathesis: the admin routes, with the admin token"
schemathesis run "$BOXOFFICE_ROOT/Docs/openapi.yaml" --url "$base" \
  -H "Authorization: Bearer $admin_token" --include-path-regex '^/v1/admin/' \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${FUZZ_EXAMPLES:-25}" --seed "${FUZZ_SEED:-20261129}" \
  --workers 1 --request-timeout 10 \
  --report junit --report-junit-path "$out/junit-admin.xml"
admin_status=$?
# The fuzzer registers webhook endpoints at made-up URLs: remove them, so that later runs on this
# database (the browser tests) do not share the dispatcher with their dead deliveries.
for id in $(curl -sf "$base/v1/admin/webhooks" -H "Authorization: Bearer $admin_token" \
    | python3 -c "import json, sys; print(' '.join(w['id'] for w in json.load(sys.stdin)['webhooks']))"); do
  curl -sf -XDELETE "$base/v1/admin/webhooks/$id" -H "Authorization: Bearer $admin_token" >/dev/null || true
done
exit "$admin_status"
