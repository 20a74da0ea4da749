# Shared helpers for the BoxOffice scripts. Source it; do not run it.
# shellcheck shell=bash

# Repository root, resolved from this file's location (works from any cwd).
BOXOFFICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BOXOFFICE_DATA="${BOXOFFICE_ROOT}/.data"

_bo_prog="$(basename "$0")"

log()  { printf '[%s] %s\n' "$_bo_prog" "$*"; }
warn() { printf '[%s] warning: %s\n' "$_bo_prog" "$*" >&2; }
die()  { printf '[%s] error: %s\n' "$_bo_prog" "$*" >&2; exit 1; }

# stack_ports STACK -> sets STACK_PG_PORT / STACK_REDIS_PORT (PG_PORT / REDIS_PORT override;
# the scratch stack requires both).
stack_ports() {
  local pg redis
  case "$1" in
    run)   pg=15432; redis=16379 ;;
    test)  pg=15433; redis=16380 ;;
    bench) pg=15434; redis=16381 ;;
    scratch)
      # A throwaway stack for one test: its caller picks the ports and the directory.
      [[ -n "${PG_PORT:-}" && -n "${REDIS_PORT:-}" ]] || die "stack 'scratch' needs PG_PORT and REDIS_PORT"
      pg=$PG_PORT; redis=$REDIS_PORT ;;
    *) die "unknown stack '$1' (expected run, test, bench or scratch)" ;;
  esac
  STACK_PG_PORT="${PG_PORT:-$pg}"
  STACK_REDIS_PORT="${REDIS_PORT:-$redis}"
  warn_if_ephemeral "$STACK_PG_PORT" "$STACK_REDIS_PORT"
}

# warn_if_ephemeral PORT...: a server port inside Linux's ephemeral range (32768-60999 by default)
# can be held by any outgoing connection, a load test's for instance, and then fail to bind.
warn_if_ephemeral() {
  local low high port
  read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  for port in "$@"; do
    if (( port >= low && port <= high )); then
      warn "port $port lies in the ephemeral range $low-$high: an outgoing connection may hold it"
    fi
  done
}

# is_zombie PID -> 0 when PID has exited but was not reaped yet.
is_zombie() {
  [[ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" == Z ]]
}

# pid_alive PIDFILE [PATTERN] -> prints the pid and returns 0 when the process in
# PIDFILE is alive (and, when PATTERN is given, its command line matches it).
pid_alive() {
  local file="$1" pattern="${2:-}" pid cmd
  [[ -s "$file" ]] || return 1
  pid="$(head -n1 "$file" | tr -dc '0-9')"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ! is_zombie "$pid" || return 1
  if [[ -n "$pattern" ]]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmd" == *"$pattern"* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

# wait_gone PID SECONDS -> 0 once the process has exited, 1 on timeout.
wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie child of ours counts as gone.
    if is_zombie "$pid"; then return 0; fi
    (( SECONDS < deadline )) || return 1
    sleep 0.1
  done
  return 0
}

# tcp_open PORT -> 0 when something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# render_haproxy_cfg OUT LB_HOST LB_PORT STATS_PORT STATS_SOCKET TOKEN_RATE_LIMIT PORT...: the
# `make run` haproxy configuration (deploy/haproxy.cfg.tmpl) with one server per instance port
# (api-1, api-2, ...), written to OUT. The browser tests use the same one. LB_MAX_STREAMS (2000)
# caps the event streams haproxy passes on, LB_PER_ADDRESS_CONNECTIONS (500) the connections of
# one source address.
render_haproxy_cfg() {
  local out="$1" host="$2" port="$3" stats="$4" sock="$5" tokens="$6"
  shift 6
  local servers="" i=1 p
  for p in "$@"; do
    servers+="    server api-$i 127.0.0.1:$p check"$'\n'
    i=$((i + 1))
  done
  local tmpl="$BOXOFFICE_ROOT/deploy/haproxy.cfg.tmpl"
  [[ -f "$tmpl" ]] || die "missing $tmpl"
  SERVERS="$servers" awk -v lbhost="$host" -v lbport="$port" -v stats="$stats" -v sock="$sock" -v tokens="$tokens" \
    -v streams="${LB_MAX_STREAMS:-2000}" -v conns="${LB_PER_ADDRESS_CONNECTIONS:-500}" '
    $0 == "@SERVERS@" { printf "%s", ENVIRON["SERVERS"]; next }
    { gsub(/@LB_HOST@/, lbhost); gsub(/@LB_PORT@/, lbport); gsub(/@STATS_PORT@/, stats); gsub(/@STATS_SOCKET@/, sock)
      gsub(/@TOKEN_RATE_LIMIT@/, tokens); gsub(/@MAX_STREAMS@/, streams); gsub(/@PER_ADDRESS_CONNECTIONS@/, conns); print }
  ' "$tmpl" >"$out"
}

# migrated_debug_binary: the debug build of boxoffice (built when missing), after migrating and
# seeding the database of DATABASE_URL; prints the binary's path. The fuzz and browser runs use it.
migrated_debug_binary() {
  local bin
  bin="$(cd "$BOXOFFICE_ROOT" && swift build --show-bin-path)/boxoffice"
  [[ -x "$bin" ]] || (cd "$BOXOFFICE_ROOT" && swift build --product boxoffice >&2) || return 1
  LOG_LEVEL=warning "$bin" migrate >&2 || return 1
  LOG_LEVEL=warning "$bin" seed >&2 || return 1
  echo "$bin"
}
