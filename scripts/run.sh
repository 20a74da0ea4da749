#!/usr/bin/env bash
# The `make run` local stack: PostgreSQL + Redis (scripts/services.sh run), N
# `boxoffice serve` instances and haproxy in front of them.
#
#   scripts/run.sh start    (re)start instances + haproxy; starts PG/Redis if needed
#   scripts/run.sh stop     stop haproxy, the instances, Redis and PostgreSQL
#   scripts/run.sh stop-api stop haproxy and the instances only
#   scripts/run.sh status   show what runs
#   scripts/run.sh logs     follow the instance logs
#
# Environment read here (everything else, e.g. HOLD_SECONDS or LOG_LEVEL, is
# simply inherited by the instances):
#   INSTANCES (2)  API_BASE_PORT (8081)  LB_PORT (8080)  LB_HOST (127.0.0.1)
#   LB_STATS_PORT (8404)  READY_TIMEOUT (60 s)  SWIFT_CONFIG (release)
#   SKIP_BUILD  BOXOFFICE_BIN (path of the binary; default from SwiftPM)
#   PG_PORT / REDIS_PORT (run stack ports, see scripts/services.sh)
#   REDIS_MODE (single | cluster): cluster starts a local Redis Cluster (scripts/cluster.sh
#     run: 3 masters + 3 replicas on 17001-17006) and points the instances at it
#   PG_MODE (single | ha): ha starts PostgreSQL under Patroni instead of one server (scripts/patroni.sh
#     run: etcd on 12379, nodes on 15441-15443, synchronous replication) and gives the instances a
#     DATABASE_URL naming the three nodes with target_session_attrs=read-write
#   ADMIN_TOKEN: the admin API's bearer token; when unset, one is generated once and kept in
#     .data/run/admin-token (mode 600), which later starts reuse
# DATABASE_URL and REDIS_URL are set to the run stack (and REDIS_CLUSTER_NODES in cluster
# mode); PORT and INSTANCE_ID are set per instance (api-1 on API_BASE_PORT, ...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ACTION="${1:-}"
INSTANCES="${INSTANCES:-2}"
API_BASE_PORT="${API_BASE_PORT:-8081}"
LB_PORT="${LB_PORT:-8080}"
LB_HOST="${LB_HOST:-127.0.0.1}"
LB_STATS_PORT="${LB_STATS_PORT:-8404}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
SWIFT_CONFIG="${SWIFT_CONFIG:-release}"

RUN_DIR="$BOXOFFICE_DATA/run"
LOG_DIR="$RUN_DIR/logs"
PID_DIR="$RUN_DIR/pids"
HAPROXY_CFG="$RUN_DIR/haproxy.cfg"
HAPROXY_PID="$PID_DIR/haproxy.pid"
HAPROXY_SOCK="$RUN_DIR/haproxy.sock"
SERVICES="$BOXOFFICE_ROOT/scripts/services.sh"
CLUSTER="$BOXOFFICE_ROOT/scripts/cluster.sh"
PATRONI="$BOXOFFICE_ROOT/scripts/patroni.sh"
REDIS_MODE="${REDIS_MODE:-single}"
[[ "$REDIS_MODE" == single || "$REDIS_MODE" == cluster ]] || die "REDIS_MODE must be single or cluster (got '$REDIS_MODE')"
PG_MODE="${PG_MODE:-single}"
[[ "$PG_MODE" == single || "$PG_MODE" == ha ]] || die "PG_MODE must be single or ha (got '$PG_MODE')"

[[ "$INSTANCES" =~ ^[1-9][0-9]*$ ]] || die "INSTANCES must be a positive integer (got '$INSTANCES')"

resolve_bin() {
  if [[ -n "${BOXOFFICE_BIN:-}" ]]; then
    BIN="$BOXOFFICE_BIN"
  elif [[ "${SKIP_BUILD:-0}" == 1 && -x "$BOXOFFICE_ROOT/.build/$SWIFT_CONFIG/boxoffice" ]]; then
    BIN="$BOXOFFICE_ROOT/.build/$SWIFT_CONFIG/boxoffice"
  elif command -v swift >/dev/null; then
    BIN="$(cd "$BOXOFFICE_ROOT" && swift build -c "$SWIFT_CONFIG" --show-bin-path)/boxoffice"
  else
    BIN="$BOXOFFICE_ROOT/.build/$SWIFT_CONFIG/boxoffice"
  fi
  [[ -x "$BIN" ]] || die "boxoffice binary not found at $BIN (build it: make run, or swift build -c $SWIFT_CONFIG --product boxoffice)"
}

# stop_pidfile FILE PATTERN NAME GRACE_SECONDS
stop_pidfile() {
  local file="$1" pattern="$2" name="$3" grace="$4" pid
  if pid="$(pid_alive "$file" "$pattern")"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$grace"; then
      warn "$name did not exit within ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || warn "$name (pid $pid) is still there"
    fi
  fi
  rm -f "$file"
}

stop_api() {
  mkdir -p "$PID_DIR"
  stop_pidfile "$HAPROXY_PID" haproxy haproxy 10
  local f
  for f in "$PID_DIR"/api-*.pid; do
    [[ -e "$f" ]] || continue
    stop_pidfile "$f" boxoffice "$(basename "$f" .pid)" 20
  done
}

http_code() {
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

dump_diagnostics() {
  local i
  for ((i = 1; i <= INSTANCES; i++)); do
    echo "----- $LOG_DIR/api-$i.log (last 40 lines)" >&2
    tail -n 40 "$LOG_DIR/api-$i.log" >&2 2>/dev/null || true
    echo "----- GET 127.0.0.1:$((API_BASE_PORT + i - 1))/health/ready" >&2
    curl -s -m 2 -i "http://127.0.0.1:$((API_BASE_PORT + i - 1))/health/ready" >&2 2>/dev/null || echo "(no answer)" >&2
    echo >&2
  done
  echo "----- haproxy backend state (stats on 127.0.0.1:$LB_STATS_PORT)" >&2
  curl -s -m 2 "http://127.0.0.1:$LB_STATS_PORT/;csv" 2>/dev/null | cut -d, -f1,2,18,37 >&2 || echo "(haproxy not answering)" >&2
}

start() {
  resolve_bin
  mkdir -p "$LOG_DIR" "$PID_DIR"
  stack_ports run
  if [[ "$PG_MODE" == ha ]]; then
    # One PostgreSQL or the other: both would be a second truth for seats and money.
    "$SERVICES" run stop postgres
    "$SERVICES" run start redis
    "$PATRONI" run start
    DATABASE_URL="$("$PATRONI" run url)"
  else
    "$PATRONI" run stop
    "$SERVICES" run start
    DATABASE_URL="postgres://boxoffice:boxoffice@127.0.0.1:$STACK_PG_PORT/boxoffice"
  fi
  export DATABASE_URL
  export REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
  if [[ "$REDIS_MODE" == cluster ]]; then
    "$CLUSTER" run start
    export REDIS_CLUSTER_NODES="$("$CLUSTER" run nodes)"
  else
    unset REDIS_CLUSTER_NODES
  fi

  if [[ -z "${ADMIN_TOKEN:-}" ]]; then
    local token_file="$RUN_DIR/admin-token"
    if [[ ! -s "$token_file" ]]; then
      (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
    fi
    ADMIN_TOKEN="$(cat "$token_file")"
    export ADMIN_TOKEN
    log "admin API token: ${token_file#"$BOXOFFICE_ROOT"/} (curl -H \"Authorization: Bearer \$(cat ${token_file#"$BOXOFFICE_ROOT"/})\" ...)"
  else
    log "admin API token: the ADMIN_TOKEN given"
  fi

  # Proof-of-work challenges are signed with a key every instance shares (kept like the admin token).
  if [[ -z "${CHALLENGE_SECRET:-}" ]]; then
    local secret_file="$RUN_DIR/challenge-secret"
    [[ -s "$secret_file" ]] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file")
    CHALLENGE_SECRET="$(cat "$secret_file")"
    export CHALLENGE_SECRET
  fi

  # A second `make run` replaces the instances and haproxy, keeps the databases.
  stop_api

  log "boxoffice migrate ($BIN)"
  (cd "$BOXOFFICE_ROOT" && "$BIN" migrate) </dev/null || die "boxoffice migrate failed"
  log "boxoffice seed"
  (cd "$BOXOFFICE_ROOT" && "$BIN" seed) </dev/null || die "boxoffice seed failed"

  local i port
  for ((i = 1; i <= INSTANCES; i++)); do
    port=$((API_BASE_PORT + i - 1))
    tcp_open "$port" && die "port $port is already in use; cannot start api-$i (set API_BASE_PORT)"
  done
  for p in "$LB_PORT" "$LB_STATS_PORT"; do
    tcp_open "$p" && die "port $p is already in use; cannot start haproxy (set LB_PORT / LB_STATS_PORT)"
  done

  for ((i = 1; i <= INSTANCES; i++)); do
    port=$((API_BASE_PORT + i - 1))
    printf '\n===== %s api-%d starting on port %d (%s)\n' "$(date -Is)" "$i" "$port" "$BIN" >>"$LOG_DIR/api-$i.log"
    # Instances listen on the loopback only: fans reach them through haproxy and its limits, and
    # /metrics (which haproxy does not pass) stays for the local monitoring. HOST=0.0.0.0 opens them.
    (cd "$BOXOFFICE_ROOT" && HOST="${HOST:-127.0.0.1}" PORT="$port" INSTANCE_ID="api-$i" exec setsid "$BIN" serve) \
      </dev/null >>"$LOG_DIR/api-$i.log" 2>&1 &
    echo "$!" >"$PID_DIR/api-$i.pid"
    log "api-$i: pid $!, port $port, log ${LOG_DIR#"$BOXOFFICE_ROOT"/}/api-$i.log"
  done

  local ports=()
  for ((i = 1; i <= INSTANCES; i++)); do ports+=("$((API_BASE_PORT + i - 1))"); done
  render_haproxy_cfg "$HAPROXY_CFG" "$LB_HOST" "$LB_PORT" "$LB_STATS_PORT" "$HAPROXY_SOCK" "${TOKEN_RATE_LIMIT:-100}" "${ports[@]}"
  haproxy -c -q -f "$HAPROXY_CFG" || die "invalid haproxy config $HAPROXY_CFG"
  haproxy -D -p "$HAPROXY_PID" -f "$HAPROXY_CFG" </dev/null || die "haproxy failed to start"
  log "haproxy: pid $(head -n1 "$HAPROXY_PID" 2>/dev/null), http://$LB_HOST:$LB_PORT, stats http://127.0.0.1:$LB_STATS_PORT/"

  local deadline=$((SECONDS + READY_TIMEOUT)) code=""
  while :; do
    for ((i = 1; i <= INSTANCES; i++)); do
      if ! pid_alive "$PID_DIR/api-$i.pid" >/dev/null; then
        dump_diagnostics
        die "api-$i exited during startup (see $LOG_DIR/api-$i.log); run 'make stop' to clean up"
      fi
    done
    code="$(http_code "http://127.0.0.1:$LB_PORT/health/ready")"
    [[ "$code" == 200 ]] && break
    if (( SECONDS >= deadline )); then
      dump_diagnostics
      die "http://127.0.0.1:$LB_PORT/health/ready did not answer 200 within ${READY_TIMEOUT}s (last: ${code:-none}); run 'make stop' to clean up"
    fi
    sleep 0.5
  done
  log "ready: http://127.0.0.1:$LB_PORT ($INSTANCES instances; 'make logs' to follow, 'make stop' to stop)"
}

status() {
  local rc=0 f name pid
  "$SERVICES" run status || rc=3
  if [[ -d "$BOXOFFICE_DATA/run/redis-cluster" ]]; then "$CLUSTER" run status || rc=3; fi
  if [[ -e "$BOXOFFICE_DATA/run/pg-ha" ]]; then "$PATRONI" run status || rc=3; fi
  for f in "$PID_DIR"/api-*.pid; do
    [[ -e "$f" ]] || continue
    name="$(basename "$f" .pid)"
    if pid="$(pid_alive "$f" boxoffice)"; then echo "$name: running, pid $pid"; else echo "$name: stopped"; rc=3; fi
  done
  if pid="$(pid_alive "$HAPROXY_PID" haproxy)"; then
    echo "haproxy: running, pid $pid, /health/ready -> $(http_code "http://127.0.0.1:$LB_PORT/health/ready")"
  else
    echo "haproxy: stopped"; rc=3
  fi
  return "$rc"
}

case "$ACTION" in
  start)    start ;;
  stop)     stop_api; "$SERVICES" run stop; "$CLUSTER" run stop; "$PATRONI" run stop ;;
  stop-api) stop_api ;;
  status)   status ;;
  logs)
    shopt -s nullglob
    logs=("$LOG_DIR"/api-*.log)
    (( ${#logs[@]} )) || die "no instance logs in $LOG_DIR (make run first)"
    exec tail -n "${LOG_LINES:-50}" -F "${logs[@]}"
    ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
