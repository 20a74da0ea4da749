#!/usr/bin/env bash
# The browser tests (tests/browser/test_pages.py) as `make test` runs them after schemathesis
# (BROWSER=0 skips): Debian's chromium and chromium-driver (installed when missing; no browser is
# downloaded at run time) driven headless by Selenium from PyPI, against two instances (the debug
# build) behind haproxy on the test stack, with the haproxy configuration `make run` uses.
#
# Reads: BROWSER_PORT (18380; the instances take the next two ports, haproxy's stats 18390),
# PG_PORT / REDIS_PORT (test stack), BROWSER_SCREENSHOTS (a folder: also write the pictures the
# README shows, e.g. BROWSER_SCREENSHOTS=Docs/images). Arguments name tests to run (unittest's
# form, e.g. OperatorPageTests.test_create_a_concert_and_a_date); none runs them all. Failed tests
# leave screenshots and the instance logs in .data/browser/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BOXOFFICE_ROOT"

DEPS_EXTRA="chromium chromium-driver" "$BOXOFFICE_ROOT/scripts/deps.sh"
python3 -c "import selenium" 2>/dev/null || python3 -m pip install --quiet selenium
python3 -c "import standardwebhooks" 2>/dev/null || python3 -m pip install --quiet standardwebhooks

stack_ports test
export DATABASE_URL="postgres://boxoffice:boxoffice@127.0.0.1:$STACK_PG_PORT/boxoffice"
export REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
port="${BROWSER_PORT:-18380}"
out="$BOXOFFICE_ROOT/.data/browser"
rm -rf "$out"
mkdir -p "$out"

bin="$(migrated_debug_binary)"

admin_token="browser-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CHALLENGE_SECRET="browser-challenge-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hold_seconds=20
pids=()
# Chromium leaves its singleton-socket and scoped folders behind in TMPDIR (a dozen per run in
# /tmp otherwise); give it its own and remove that at the end.
export TMPDIR="$out/tmp"
mkdir -p "$TMPDIR"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMPDIR"
}
trap cleanup EXIT

ports=("$((port + 1))" "$((port + 2))")
for i in 0 1; do
  HOST=127.0.0.1 PORT="${ports[$i]}" INSTANCE_ID="browser-$((i + 1))" LOG_LEVEL=warning ADMIN_TOKEN="$admin_token" \
    HOLD_SECONDS="$hold_seconds" "$bin" serve >"$out/api-$((i + 1)).log" 2>&1 &
  pids+=("$!")
done
# Four streams at most through the balancer: a test fills them to see the page fall back to polling.
LB_MAX_STREAMS=4 render_haproxy_cfg "$out/haproxy.cfg" 127.0.0.1 "$port" "$((port + 10))" "$out/haproxy.sock" 1000 "${ports[@]}"
haproxy -f "$out/haproxy.cfg" -db >"$out/haproxy.log" 2>&1 &
pids+=("$!")

for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:${ports[0]}/health/ready" >/dev/null && curl -sf "http://127.0.0.1:${ports[1]}/health/ready" >/dev/null \
    && curl -sf "http://127.0.0.1:$port/" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/" >/dev/null || die "the browser test stack did not come up (see $out)"

log "browser tests: chromium $(chromium --version 2>/dev/null | awk '{print $2}') headless against http://127.0.0.1:$port"
BROWSER_BASE_URL="http://127.0.0.1:$port" BROWSER_ADMIN_TOKEN="$admin_token" BROWSER_HOLD_SECONDS="$hold_seconds" \
  BROWSER_ARTIFACTS="$out" BROWSER_SCREENSHOTS="${BROWSER_SCREENSHOTS:-}" \
  python3 "$BOXOFFICE_ROOT/tests/browser/test_pages.py" "$@"
