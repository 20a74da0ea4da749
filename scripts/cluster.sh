#!/usr/bin/env bash
# A local Redis Cluster of Debian's redis-server: 3 masters and 3 replicas on 127.0.0.1.
#
#   scripts/cluster.sh STACK ACTION
#     STACK   run (ports 17001-17006) | test (ports 17101-17106)
#     ACTION  start | stop | status | destroy (test only) | nodes (print the seed list)
#             | kill PORT (SIGKILL one node, as a crash; `start` brings it back as a replica)
#             | move-slot SLOT PORT (move one hash slot, keys and all, to the master at PORT, while
#               the cluster serves: what `redis-cli --cluster reshard` does for a chosen slot)
#             | slot-of KEY (the slot of a key, and the master that serves it) | owner SLOT (that master)
#             | check (redis-cli --cluster check: every slot covered, none left open)
#             | fix (redis-cli --cluster fix: closes a slot a stopped move left open)
#             | add-master (two more nodes: a master and its replica, on the next free ports; prints the
#               master's port; it serves no slot until slots are moved to it)
#             | rebalance (redis-cli --cluster rebalance --cluster-use-empty-masters: slots spread evenly)
#             | remove-master PORT (its slots rebalanced onto the others, then it and its replica leave
#               the cluster and stop)
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
# move-slot marks the slot IMPORTING on the target and MIGRATING on its master, MIGRATEs its keys
# in batches of MOVE_BATCH (default 100) keys with MOVE_PAUSE_MS (default 0) between batches, then
# gives the slot to the target on every master (CLUSTER SETSLOT ... NODE, the target first). While
# it runs, a request whose keys are all still on the source runs there, one whose keys are all
# gone is redirected with ASK, and a script whose keys are split gets TRYAGAIN (the app retries,
# then answers 503); Docs/operations.md, "Growing the cluster during a season".
#
# Nodes added with add-master live under the same folder and are started, stopped and listed with
# the first six; `destroy` removes them too.
#
# Environment: CLUSTER_BASE_PORT (first port), SERVICES_TIMEOUT (seconds, default 60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -eq 2 || ( $# -eq 3 && ( "$2" == kill || "$2" == slot-of || "$2" == owner || "$2" == remove-master ) ) \
  || ( $# -eq 4 && "$2" == move-slot ) ]] || { sed -n '2,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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
# Nodes added by add-master (base+6, base+7, ...), while their folders exist.
for ((i = 6; i < 40; i++)); do [[ -f "$DIR/$((base + i))/redis.conf" ]] && PORTS+=($((base + i))); done
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

# Writes the node's configuration and starts it (it must not be running).
launch_node() {
  local port="$1"
  tcp_open "$port" && die "port $port is in use by something else; set CLUSTER_BASE_PORT"
  write_config "$port"
  redis-server "$(node_dir "$port")/redis.conf" </dev/null >/dev/null 2>&1 \
    || { tail -n 20 "$(node_dir "$port")/redis.log" >&2 || true; die "redis cluster node $port failed to start"; }
}

wait_answering() {
  local port deadline=$((SECONDS + TIMEOUT))
  for port in "$@"; do
    until [[ "$(cli "$port" ping 2>/dev/null)" == PONG ]]; do
      (( SECONDS < deadline )) || die "cluster node $port does not answer"
      sleep 0.1
    done
  done
}

wait_all_ok() {
  local port deadline=$((SECONDS + TIMEOUT))
  for port in "$@"; do
    until cluster_ok "$port"; do
      (( SECONDS < deadline )) || die "cluster node $port is not cluster_state:ok after ${TIMEOUT}s"
      sleep 0.2
    done
  done
}

start() {
  command -v redis-server >/dev/null || die "redis-server not found; run scripts/deps.sh"
  local port pid
  for port in "${PORTS[@]}"; do
    if pid="$(node_pid "$port")"; then continue; fi
    launch_node "$port"
  done
  wait_answering "${PORTS[@]}"
  if [[ "$(cli "${PORTS[0]}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_known_nodes" {print $2}')" == 1 ]]; then
    log "creating the $STACK cluster on ports ${PORTS[0]}-${PORTS[5]}"
    local -a first=("${PORTS[@]:0:6}")
    redis-cli --cluster create "${first[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
      || { cat "$DIR/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  wait_all_ok "${PORTS[@]}"
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

masters() {
  local port
  for port in "${PORTS[@]}"; do
    [[ "$(cli "$port" role 2>/dev/null | head -n1 | tr -d '\r')" == master ]] && echo "$port"
  done
  return 0
}

# The port of the master that serves SLOT (from CLUSTER NODES; a slot mid-move counts for its source).
slot_owner() {
  cli "${PORTS[0]}" cluster nodes | tr -d '\r' | awk -v slot="$1" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue
        n = split($i, range, "-"); lo = range[1]; hi = (n == 2 ? range[2] : range[1])
        if (slot + 0 >= lo + 0 && slot + 0 <= hi + 0) { split($2, address, "[:@]"); print address[2]; exit }
      }
    }'
}

move_slot() {
  local slot="$1" to="$2" from from_id to_id reply port batch="${MOVE_BATCH:-100}" pause="${MOVE_PAUSE_MS:-0}" moved=0
  local -a keys
  [[ "$slot" =~ ^[0-9]+$ ]] && (( slot < 16384 )) || die "slot must be 0-16383, not '$slot'"
  masters | grep -x "$to" >/dev/null || die "node $to is not a master of the $STACK cluster"
  from="$(slot_owner "$slot")"
  [[ -n "$from" ]] || die "no master serves slot $slot"
  if [[ "$from" == "$to" ]]; then log "slot $slot is already on $to"; return 0; fi
  from_id="$(cli "$from" cluster myid | tr -d '\r')"
  to_id="$(cli "$to" cluster myid | tr -d '\r')"
  log "moving slot $slot ($(cli "$from" cluster countkeysinslot "$slot" | tr -d '\r') keys) from $from to $to"
  [[ "$(cli "$to" cluster setslot "$slot" importing "$from_id")" == OK ]] || die "SETSLOT IMPORTING failed on $to"
  [[ "$(cli "$from" cluster setslot "$slot" migrating "$to_id")" == OK ]] || die "SETSLOT MIGRATING failed on $from"
  while :; do
    mapfile -t keys < <(cli "$from" cluster getkeysinslot "$slot" "$batch" | tr -d '\r' | sed '/^$/d')
    (( ${#keys[@]} )) || break
    reply="$(cli "$from" migrate 127.0.0.1 "$to" "" 0 10000 KEYS "${keys[@]}" | tr -d '\r')"
    [[ "$reply" == OK || "$reply" == NOKEY ]] || die "MIGRATE of slot $slot stopped after $moved keys: $reply"
    moved=$((moved + ${#keys[@]}))
    (( pause == 0 )) || sleep "$(awk -v ms="$pause" 'BEGIN { print ms / 1000 }')"
  done
  for port in "$to" "$from" $(masters | grep -vx -e "$to" -e "$from"); do
    [[ "$(cli "$port" cluster setslot "$slot" node "$to_id")" == OK ]] || die "SETSLOT NODE failed on $port"
  done
  log "slot $slot moved to $to ($moved keys)"
}

add_master() {
  local master=$((base + ${#PORTS[@]})) replica=$((base + ${#PORTS[@]} + 1)) id
  warn_if_ephemeral "$master" "$replica" $((master + 10000)) $((replica + 10000))
  launch_node "$master"
  launch_node "$replica"
  wait_answering "$master" "$replica"
  redis-cli --cluster add-node "127.0.0.1:$master" "127.0.0.1:${PORTS[0]}" >"$DIR/add-$master.log" 2>&1 \
    || { cat "$DIR/add-$master.log" >&2; die "add-node $master failed"; }
  wait_all_ok "$master"
  id="$(cli "$master" cluster myid | tr -d '\r')"
  redis-cli --cluster add-node "127.0.0.1:$replica" "127.0.0.1:${PORTS[0]}" --cluster-slave --cluster-master-id "$id" \
    >>"$DIR/add-$master.log" 2>&1 || { cat "$DIR/add-$master.log" >&2; die "add-node $replica (replica of $master) failed"; }
  wait_all_ok "$master" "$replica"
  log "master $master (replica $replica) joined the $STACK cluster; it serves no slot yet" >&2
  echo "$master"
}

# Stops the node at PORT (it has left the cluster) and removes its folder.
drop_node() {
  local pid
  if pid="$(node_pid "$1")"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "$TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$(node_dir "$1")"
}

# Waits until every node agrees about the slots (gossip spreads a change within a second or so):
# redis-cli refuses to rebalance before that.
wait_agreement() {
  local deadline=$((SECONDS + TIMEOUT))
  until redis-cli --cluster check "127.0.0.1:${PORTS[0]}" 2>/dev/null | grep -q "All nodes agree"; do
    (( SECONDS < deadline )) || die "the nodes of the $STACK cluster do not agree about the slots after ${TIMEOUT}s"
    sleep 0.5
  done
}

rebalance() {
  wait_agreement
  redis-cli --cluster rebalance "127.0.0.1:${PORTS[0]}" "$@" >"$DIR/rebalance.log" 2>&1 \
    || { cat "$DIR/rebalance.log" >&2; die "redis-cli --cluster rebalance failed"; }
  cat "$DIR/rebalance.log"
}

remove_master() {
  local port="$1" id replica replicas
  masters | grep -x "$port" >/dev/null || die "node $port is not a master of the $STACK cluster"
  id="$(cli "$port" cluster myid | tr -d '\r')"
  # Its replicas, read before the rebalance: a master left without slots sees its replicas migrate
  # to the masters that took them (cluster-allow-replica-migration).
  replicas="$(cli "$port" cluster nodes | tr -d '\r' | awk -v id="$id" '$4 == id { split($2, a, "[:@]"); print a[2] }')"
  rebalance --cluster-weight "$id=0" >"$DIR/remove-$port.log"
  for replica in $replicas; do
    redis-cli --cluster del-node "127.0.0.1:${PORTS[0]}" "$(cli "$replica" cluster myid | tr -d '\r')" >>"$DIR/remove-$port.log" 2>&1 \
      || die "del-node $replica failed"
    drop_node "$replica"
  done
  redis-cli --cluster del-node "127.0.0.1:${PORTS[0]}" "$id" >>"$DIR/remove-$port.log" 2>&1 || die "del-node $port failed"
  drop_node "$port"
  log "master $port left the $STACK cluster"
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
  move-slot) move_slot "$3" "$4" ;;
  slot-of) echo "$(cli "${PORTS[0]}" cluster keyslot "$3" | tr -d '\r') $(slot_owner "$(cli "${PORTS[0]}" cluster keyslot "$3" | tr -d '\r')")" ;;
  owner) slot_owner "$3" ;;
  add-master) add_master ;;
  rebalance) rebalance --cluster-use-empty-masters ;;
  remove-master) remove_master "$3" ;;
  check) redis-cli --cluster check "127.0.0.1:${PORTS[0]}" ;;
  fix) redis-cli --cluster fix "127.0.0.1:${PORTS[0]}" --cluster-yes ;;
  *) die "unknown action '$ACTION'" ;;
esac
