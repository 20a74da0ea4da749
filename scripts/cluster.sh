#!/usr/bin/env bash
# A local Redis Cluster of Debian's redis-server: 3 masters and 3 replicas on 127.0.0.1.
#
#   scripts/cluster.sh STACK ACTION
#     STACK   run (ports 17001-17006) | test (ports 17101-17106)
#     ACTION  start | stop | status | destroy (test only) | nodes (print the seed list)
#             | kill PORT (SIGKILL one node, as a crash; `start` brings it back as a replica)
#
# start creates the cluster (redis-cli --cluster create --cluster-replicas 1) when its nodes
# are new, then waits until every node reports cluster_state:ok. Each node keeps its data
# under .data/STACK/redis-cluster/PORT. Every port (nodes 17001-17106, their cluster bus on
# Redis' default PORT+10000: 27001-27106) lies below Linux's ephemeral range 32768-60999, where an
# outgoing connection of a load generator can hold a port and stop a node from starting. The run
# cluster keeps an AOF (appendfsync everysec) like the single run Redis; the test cluster
# trades durability for speed. cluster-node-timeout is 2 s, so a dead master's replica takes
# over within about 3 s; cluster-require-full-coverage is off, so the other masters keep
# serving their slots meanwhile.
#
# Environment: CLUSTER_BASE_PORT (first port), SERVICES_TIMEOUT (seconds, default 60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -eq 2 || ( $# -eq 3 && "$2" == kill ) ]] || { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
STACK="$1"; ACTION="$2"
case "$STACK" in
  run)  base="${CLUSTER_BASE_PORT:-17001}" ;;
  test) base="${CLUSTER_BASE_PORT:-17101}" ;;
  *) die "unknown cluster stack '$STACK' (expected run or test)" ;;
esac
[[ "$ACTION" != destroy || "$STACK" == test ]] || die "only the test cluster can be destroyed"
TIMEOUT="${SERVICES_TIMEOUT:-60}"
DIR="$BOXOFFICE_DATA/$STACK/redis-cluster"
PORTS=()
for ((i = 0; i < 6; i++)); do PORTS+=($((base + i))); done
warn_if_ephemeral "${PORTS[@]}" $((base + 10000)) $((base + 10005))

node_dir() { echo "$DIR/$1"; }
node_pid() { pid_alive "$(node_dir "$1")/redis.pid" redis-server; }
cli() { local port="$1"; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
cluster_ok() { [[ "$(cli "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_state" {print $2}')" == ok ]]; }
seeds() { local IFS=,; echo "${PORTS[*]/#/127.0.0.1:}"; }

write_config() {
  local port="$1" dir
  dir="$(node_dir "$port")"
  mkdir -p "$dir"
  {
    echo "port $port"
    echo "cluster-port $((port + 10000))"
    echo "bind 127.0.0.1"
    echo "daemonize yes"
    echo "pidfile $dir/redis.pid"
    echo "logfile $dir/redis.log"
    echo "dir $dir"
    echo "cluster-enabled yes"
    echo "cluster-config-file $dir/nodes.conf"
    echo "cluster-node-timeout 2000"
    echo "cluster-require-full-coverage no"
    echo "save \"\""
    if [[ "$STACK" == run ]]; then
      echo "appendonly yes"
      echo "appendfsync everysec"
    else
      echo "appendonly no"
    fi
  } >"$dir/redis.conf"
}

start() {
  command -v redis-server >/dev/null || die "redis-server not found; run scripts/deps.sh"
  local port pid
  for port in "${PORTS[@]}"; do
    if pid="$(node_pid "$port")"; then continue; fi
    tcp_open "$port" && die "port $port is in use by something else; set CLUSTER_BASE_PORT"
    write_config "$port"
    redis-server "$(node_dir "$port")/redis.conf" </dev/null >/dev/null 2>&1 \
      || { tail -n 20 "$(node_dir "$port")/redis.log" >&2 || true; die "redis cluster node $port failed to start"; }
  done
  local deadline=$((SECONDS + TIMEOUT))
  for port in "${PORTS[@]}"; do
    until [[ "$(cli "$port" ping 2>/dev/null)" == PONG ]]; do
      (( SECONDS < deadline )) || die "cluster node $port does not answer"
      sleep 0.1
    done
  done
  if [[ "$(cli "${PORTS[0]}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_known_nodes" {print $2}')" == 1 ]]; then
    log "creating the $STACK cluster on ports ${PORTS[0]}-${PORTS[5]}"
    redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
      || { cat "$DIR/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  for port in "${PORTS[@]}"; do
    until cluster_ok "$port"; do
      (( SECONDS < deadline )) || die "cluster node $port is not cluster_state:ok after ${TIMEOUT}s"
      sleep 0.2
    done
  done
  log "redis cluster ($STACK) ready: $(seeds)"
}

stop() {
  local port pid
  for port in "${PORTS[@]}"; do
    if pid="$(node_pid "$port")"; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" "$TIMEOUT" || { warn "cluster node $port did not stop; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
  done
  [[ -d "$DIR" ]] && log "redis cluster ($STACK) stopped"
  return 0
}

status() {
  local port pid rc=0 role
  for port in "${PORTS[@]}"; do
    if pid="$(node_pid "$port")"; then
      role="$(cli "$port" role 2>/dev/null | head -n1)"
      echo "redis cluster node ($STACK) $port: running, pid $pid, $role"
    else
      echo "redis cluster node ($STACK) $port: stopped"; rc=3
    fi
  done
  return "$rc"
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  destroy) stop; rm -rf "$DIR" ;;
  nodes) seeds ;;
  kill)
    pid="$(node_pid "$3")" || die "cluster node $3 ($STACK) is not running"
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "cluster node $3 did not die"
    log "killed cluster node $3 (pid $pid)"
    ;;
  *) die "unknown action '$ACTION'" ;;
esac
