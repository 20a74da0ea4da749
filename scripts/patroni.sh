#!/usr/bin/env bash
# PostgreSQL highly available for a local BoxOffice stack (PG_MODE=ha): one etcd and three
# PostgreSQL 15 nodes (pg1, pg2, pg3) under Patroni, with synchronous replication: a commit is
# acknowledged once it is on the primary and on its synchronous standby.
#
#   scripts/patroni.sh STACK ACTION [ARG]
#     STACK   run | test | bench
#     start        start etcd and every node that is not running; wait for a primary and a
#                  synchronous standby; create role and database boxoffice (idempotent)
#     stop         stop the nodes (Patroni stops its PostgreSQL), then etcd
#     destroy      stop, then delete the data
#     status       patronictl list
#     url          the libpq URL the instances use: every node, target_session_attrs=read-write
#     primary      the primary's node name (pg1..pg3), or nothing while there is none
#     role NODE    primary | sync | replica | down
#     kill WHO     SIGKILL on Patroni and PostgreSQL of one node, as a machine dying; WHO is a
#                  node name, primary, sync (the synchronous standby) or replica (the other one);
#                  prints the node killed. `start` brings it back (it rejoins as a replica).
#     switchover   planned switchover to the synchronous standby (patronictl switchover);
#                  waits for the new primary; prints its name
#     stop-etcd | start-etcd   the consensus store alone (Patroni then demotes the primary)
#     wait-primary [SECONDS]   until a primary answers writes (default 60)
#
# Ports (all below Linux's ephemeral range):            etcd    PostgreSQL     Patroni REST
#   run    12379 (peer 12380)  15441-15443  18441-18443
#   test   12479 (peer 12480)  15451-15453  18451-18453
#   bench  12579 (peer 12580)  15461-15463  18461-18463
# Data under <repo>/.data/STACK/pg-ha (or /var/tmp/boxoffice-pg/... when the postgres user
# cannot reach the checkout). Timings for a local stack: ttl 6 s, loop_wait 1 s, retry_timeout
# 2 s (Docs/operations.md, "Running PostgreSQL highly available", says what they cost and what
# to use on separate machines). Environment: PG_BIN_DIR (/usr/lib/postgresql/15/bin),
# HA_TTL, HA_LOOP_WAIT, HA_RETRY_TIMEOUT, SERVICES_TIMEOUT (60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
STACK="$1"; ACTION="$2"; ARG="${3:-}"
case "$STACK" in
  run)   ETCD_PORT=12379; PG_BASE=15441; REST_BASE=18441 ;;
  test)  ETCD_PORT=12479; PG_BASE=15451; REST_BASE=18451 ;;
  bench) ETCD_PORT=12579; PG_BASE=15461; REST_BASE=18461 ;;
  *) usage ;;
esac
NODES=(pg1 pg2 pg3)
PG_BIN="${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}"
TIMEOUT="${SERVICES_TIMEOUT:-60}"
STACK_DIR="$BOXOFFICE_DATA/$STACK"
IS_ROOT=0; [[ $EUID -eq 0 ]] && IS_ROOT=1
SCOPE="boxoffice-$STACK"

node_index() { local i; for i in "${!NODES[@]}"; do [[ "${NODES[$i]}" == "$1" ]] && { echo "$i"; return 0; }; done; return 1; }
pg_port()   { echo $((PG_BASE + $(node_index "$1"))); }
rest_port() { echo $((REST_BASE + $(node_index "$1"))); }

# Where the data lives: .data/STACK/pg-ha, or a directory under /var/tmp (linked from there)
# when the postgres user cannot traverse the checkout (a clone under /root, as in CI).
resolve_root() {
  local link="$STACK_DIR/pg-ha"
  mkdir -p "$STACK_DIR"
  chmod a+x "$BOXOFFICE_DATA" "$STACK_DIR" 2>/dev/null || true
  if [[ -L "$link" ]]; then
    HA_ROOT="$(readlink -f "$link")"
  elif (( IS_ROOT )) && ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
    HA_ROOT="/var/tmp/boxoffice-pg/$(printf '%s' "$BOXOFFICE_ROOT" | cksum | cut -d' ' -f1)/$STACK-ha"
    mkdir -p "$HA_ROOT"
    chmod a+x /var/tmp/boxoffice-pg "$(dirname "$HA_ROOT")"
    ln -sfn "$HA_ROOT" "$link"
  else
    HA_ROOT="$link"
  fi
  mkdir -p "$HA_ROOT"
  (( IS_ROOT )) && chown postgres:postgres "$HA_ROOT"
  chmod 0750 "$HA_ROOT"
  # Unix socket paths are limited to about 107 bytes.
  SOCK_DIR="$HA_ROOT"; (( ${#SOCK_DIR} > 80 )) && SOCK_DIR=/tmp
  return 0
}

etcd_url() { echo "http://127.0.0.1:$ETCD_PORT"; }
etcd_ready() { curl -sf -m 1 "$(etcd_url)/health" 2>/dev/null | grep -q '"health":"true"'; }
etcd_pid() { pid_alive "$HA_ROOT/etcd.pid" etcd; }

etcd_start() {
  if etcd_pid >/dev/null && etcd_ready; then return 0; fi
  tcp_open "$ETCD_PORT" && die "port $ETCD_PORT is taken by a process that is not this stack's etcd"
  command -v etcd >/dev/null || die "etcd not found; run scripts/deps.sh"
  log "starting etcd ($STACK) on 127.0.0.1:$ETCD_PORT"
  local peer="http://127.0.0.1:$((ETCD_PORT + 1))"
  (exec setsid etcd --name "etcd-$STACK" --data-dir "$HA_ROOT/etcd" \
      --listen-client-urls "$(etcd_url)" --advertise-client-urls "$(etcd_url)" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "etcd-$STACK=$peer" --initial-cluster-state new --initial-cluster-token "$SCOPE" \
      --listen-metrics-urls "" --log-level warn) </dev/null >>"$HA_ROOT/etcd.log" 2>&1 &
  echo "$!" >"$HA_ROOT/etcd.pid"
  local deadline=$((SECONDS + TIMEOUT))
  until etcd_ready; do
    (( SECONDS < deadline )) || { tail -n 20 "$HA_ROOT/etcd.log" >&2; die "etcd ($STACK) did not become healthy"; }
    sleep 0.1
  done
}

etcd_stop() {
  local pid
  pid="$(etcd_pid)" || return 0
  log "stopping etcd ($STACK, pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
}

node_dir() { echo "$HA_ROOT/$1"; }
node_conf() { echo "$HA_ROOT/$1/patroni.yml"; }
node_pid() { pid_alive "$(node_dir "$1")/patroni.pid" patroni; }
postmaster_pid() { pid_alive "$(node_dir "$1")/data/postmaster.pid" postgres; }

write_node_conf() {
  local node="$1" dir; dir="$(node_dir "$node")"
  local durability="" ; [[ "$STACK" == test ]] && durability="    fsync: 'off'"
  mkdir -p "$dir"
  cat >"$(node_conf "$node")" <<EOF
# Generated by scripts/patroni.sh on every start; edits are overwritten.
scope: $SCOPE
namespace: /boxoffice/
name: $node
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:$(rest_port "$node")
  connect_address: 127.0.0.1:$(rest_port "$node")
etcd3:
  host: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: ${HA_TTL:-6}
    loop_wait: ${HA_LOOP_WAIT:-1}
    retry_timeout: ${HA_RETRY_TIMEOUT:-2}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 300
        wal_log_hints: 'on'
        wal_keep_size: 256MB
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
    - encoding: UTF8
    - locale: C
postgresql:
  listen: 127.0.0.1:$(pg_port "$node")
  connect_address: 127.0.0.1:$(pg_port "$node")
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
    rewind: {username: postgres, password: postgres}
  parameters:
    unix_socket_directories: '$SOCK_DIR'
    shared_preload_libraries: pg_stat_statements
    pg_stat_statements.track: top
    logging_collector: 'on'
    log_directory: log
    log_line_prefix: '%m [%p] %q%u@%d '
$durability
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
EOF
  (( IS_ROOT )) && chown -R postgres:postgres "$dir"
  chmod 0700 "$dir"
}

node_start() {
  local node="$1" dir; dir="$(node_dir "$node")"
  node_pid "$node" >/dev/null && return 0
  tcp_open "$(pg_port "$node")" && ! postmaster_pid "$node" >/dev/null \
    && die "port $(pg_port "$node") is taken by a process that is not $node"
  write_node_conf "$node"
  log "starting $node ($STACK): PostgreSQL 127.0.0.1:$(pg_port "$node"), Patroni REST 127.0.0.1:$(rest_port "$node")"
  local runner=(); (( IS_ROOT )) && runner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  # Patroni's own commits (txid_current() after it names a new synchronous standby) must not wait
  # for that standby: if it dies at once, Patroni 3.0's loop would hang there and never drop
  # synchronous replication. Business commits keep synchronous_commit=on.
  (cd "$dir" && PGOPTIONS="-c synchronous_commit=local" exec setsid "${runner[@]}" patroni "$(node_conf "$node")") \
    </dev/null >>"$dir/patroni.log" 2>&1 &
  echo "$!" >"$dir/patroni.pid"
}

any_node_alive() {
  local node
  for node in "${NODES[@]}"; do node_pid "$node" >/dev/null && return 0; done
  return 1
}

node_stop() {
  local node="$1" pid
  pid="$(node_pid "$node")" || return 0
  log "stopping $node ($STACK, pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$TIMEOUT"; then
    warn "$node did not stop; killing it"
    node_kill "$node"
  fi
}

# A machine dying: Patroni first (it would restart PostgreSQL), then the postmaster and its backends.
node_kill() {
  local node="$1" pid pm
  if pid="$(node_pid "$node")"; then kill -KILL "$pid" 2>/dev/null || true; fi
  if pm="$(postmaster_pid "$node")"; then
    pkill -KILL -P "$pm" 2>/dev/null || true
    kill -KILL "$pm" 2>/dev/null || true
    wait_gone "$pm" 10 || true
  fi
  [[ -n "${pid:-}" ]] && { wait_gone "$pid" 10 || true; }
  return 0
}

# role NODE: from the node's own Patroni REST API.
node_role() {
  local rest; rest="$(rest_port "$1")"
  if curl -sf -m 1 -o /dev/null "http://127.0.0.1:$rest/primary" 2>/dev/null; then echo primary
  elif curl -sf -m 1 -o /dev/null "http://127.0.0.1:$rest/sync" 2>/dev/null; then echo sync
  elif curl -sf -m 1 -o /dev/null "http://127.0.0.1:$rest/replica" 2>/dev/null; then echo replica
  else echo down
  fi
}

find_role() {
  local node
  for node in "${NODES[@]}"; do
    [[ "$(node_role "$node")" == "$1" ]] && { echo "$node"; return 0; }
  done
  return 1
}

psql_primary() {
  psql -X -q -v ON_ERROR_STOP=1 "$(conninfo postgres postgres)" "$@"
}

conninfo() {
  local user="$1" db="$2" hosts="" node
  for node in "${NODES[@]}"; do hosts+="${hosts:+,}127.0.0.1:$(pg_port "$node")"; done
  echo "postgres://$user:$user@$hosts/$db?target_session_attrs=read-write&connect_timeout=2"
}

wait_primary() {
  local deadline=$((SECONDS + ${1:-$TIMEOUT}))
  until psql_primary -c 'SELECT 1' >/dev/null 2>&1 && find_role primary >/dev/null; do
    (( SECONDS < deadline )) || return 1
    any_node_alive || return 1
    sleep 0.2
  done
}

# Every node's PostgreSQL running (a restarted one may still be catching up).
wait_all_running() {
  local deadline=$((SECONDS + TIMEOUT)) node
  for node in "${NODES[@]}"; do
    until curl -sf -m 1 -o /dev/null "http://127.0.0.1:$(rest_port "$node")/health"; do
      (( SECONDS < deadline )) || return 1
      sleep 0.2
    done
  done
}

wait_sync() {
  local deadline=$((SECONDS + TIMEOUT))
  until find_role sync >/dev/null; do
    (( SECONDS < deadline )) || return 1
    sleep 0.2
  done
}

bootstrap_database() {
  PGOPTIONS='-c client_min_messages=warning' psql_primary >/dev/null <<'SQL' || return 1
SELECT 'CREATE ROLE boxoffice LOGIN CREATEDB PASSWORD ''boxoffice'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'boxoffice')\gexec
SELECT 'CREATE DATABASE boxoffice OWNER boxoffice'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'boxoffice')\gexec
SQL
  local primary; primary="$(find_role primary)" || return 1
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
    "postgres://postgres@127.0.0.1:$(pg_port "$primary")/boxoffice" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null \
    || return 1
  # Until every node has replayed the new database: libpq does not try the next host of a URL
  # after a server refused the session ("database does not exist"), so an instance whose URL
  # starts with a lagging standby would fail to connect.
  local node deadline=$((SECONDS + TIMEOUT))
  for node in "${NODES[@]}"; do
    until psql -X -q "postgres://boxoffice@127.0.0.1:$(pg_port "$node")/boxoffice" -c 'SELECT 1' >/dev/null 2>&1; do
      (( SECONDS < deadline )) || return 1
      sleep 0.2
    done
  done
}

start() {
  command -v patroni >/dev/null || die "patroni not found; run scripts/deps.sh"
  warn_if_ephemeral "$ETCD_PORT" "$((PG_BASE + 2))" "$((REST_BASE + 2))"
  etcd_start
  local node
  for node in "${NODES[@]}"; do node_start "$node"; done
  wait_primary || { tail -n 30 "$HA_ROOT"/pg*/patroni.log >&2; die "no primary within ${TIMEOUT}s"; }
  wait_sync || { tail -n 30 "$HA_ROOT"/pg*/patroni.log >&2; die "no synchronous standby within ${TIMEOUT}s"; }
  wait_all_running || { tail -n 30 "$HA_ROOT"/pg*/patroni.log >&2; die "not every node runs after ${TIMEOUT}s"; }
  bootstrap_database || die "could not create role/database boxoffice"
  log "PostgreSQL HA ($STACK) up: primary $(find_role primary), synchronous standby $(find_role sync)"
}

stop() {
  local node
  for node in "${NODES[@]}"; do node_stop "$node" & done
  wait
  etcd_stop
}

if [[ ! -e "$STACK_DIR/pg-ha" ]]; then
  case "$ACTION" in
    stop|destroy|stop-etcd) exit 0 ;;
    status) echo "PostgreSQL HA ($STACK): never started"; exit 3 ;;
  esac
fi
resolve_root
case "$ACTION" in
  start) start ;;
  stop) stop ;;
  destroy)
    stop
    [[ -L "$STACK_DIR/pg-ha" ]] && rm -rf "$(readlink -f "$STACK_DIR/pg-ha")"
    rm -rf "$STACK_DIR/pg-ha" ;;
  status) patronictl -c "$(node_conf pg1)" list ;;
  url) conninfo boxoffice boxoffice ;;
  primary) find_role primary || true ;;
  role) node_index "$ARG" >/dev/null || usage; node_role "$ARG" ;;
  kill)
    case "$ARG" in
      primary|sync|replica) victim="$(find_role "$ARG")" || die "no $ARG to kill" ;;
      *) node_index "$ARG" >/dev/null || usage; victim="$ARG" ;;
    esac
    node_kill "$victim"
    echo "$victim" ;;
  switchover)
    leader="$(find_role primary)" || die "no primary"
    candidate="$(find_role sync)" || die "no synchronous standby to switch over to"
    patronictl -c "$(node_conf "$leader")" switchover --leader "$leader" --candidate "$candidate" --force >&2
    deadline=$((SECONDS + TIMEOUT))
    until [[ "$(node_role "$candidate")" == primary ]]; do
      (( SECONDS < deadline )) || die "$candidate did not become primary"
      sleep 0.1
    done
    echo "$candidate" ;;
  stop-etcd) etcd_stop ;;
  start-etcd) etcd_start ;;
  wait-primary) wait_primary "${ARG:-60}" || die "no primary within ${ARG:-60}s" ;;
  *) usage ;;
esac

