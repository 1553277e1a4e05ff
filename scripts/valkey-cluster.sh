#!/usr/bin/env bash
# A local Valkey Cluster on loopback: 3 primaries (ports P..P+2) and, by
# default, one replica each (P+3..P+5), for tests and benches.
#
#   scripts/valkey-cluster.sh start [--base-port P] [--dir D] [--replicas N]
#   scripts/valkey-cluster.sh stop  [--dir D]
#
# start is idempotent (a cluster already running from D is reused), waits
# for cluster_state:ok on every node and for every replica to be attached,
# and prints as its last line
#   VALKEY_CLUSTER_NODES=127.0.0.1:P,127.0.0.1:P+1,127.0.0.1:P+2
# stop kills what D's pid files name and removes D. Nothing is persisted
# (no RDB, no AOF): the mirror's state is derivable from Postgres.
# cluster-node-timeout is 1000 ms so a replica takes over ~2 s after its
# primary dies. Uses valkey-server/valkey-cli when on PATH, else redis-*.
set -euo pipefail

cmd=${1:-}
[ $# -gt 0 ] && shift
BASE=7100
DIR=.data/valkey-cluster
REPLICAS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --base-port) BASE=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --replicas) REPLICAS=$2; shift 2 ;;
    *) echo "valkey-cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PRIMARIES=3
NODE_TIMEOUT_MS=${VALKEY_CLUSTER_NODE_TIMEOUT_MS:-1000}

if command -v valkey-server >/dev/null 2>&1; then SERVER=valkey-server; CLI=valkey-cli
elif command -v redis-server >/dev/null 2>&1; then SERVER=redis-server; CLI=redis-cli
else echo "valkey-cluster.sh: neither valkey-server nor redis-server is on PATH" >&2; exit 1
fi

log() { printf 'valkey-cluster: %s\n' "$*" >&2; }
cli() { "$CLI" -h 127.0.0.1 -p "$1" "${@:2}"; }
node_count() { echo $((PRIMARIES * (1 + REPLICAS))); }
ports() { local i; for ((i = 0; i < $(node_count); i++)); do echo $((BASE + i)); done; }
nodes_line() { echo "VALKEY_CLUSTER_NODES=127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_dir() {
  [ -d "$DIR" ] || return 0
  local f pid
  for f in "$DIR"/*/node.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a server this dir started (a reused pid would not be on this node's port;
    # the server retitles itself "redis-server 127.0.0.1:PORT [cluster]").
    if kill -0 "$pid" 2>/dev/null && grep -qa -- ":$(basename "$(dirname "$f")")" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
}

# Every node says cluster_state:ok, knows all nodes, and each primary has its replicas online.
healthy() {
  local p info
  for p in $(ports); do
    info=$(cli "$p" cluster info 2>/dev/null) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:$(node_count)" <<<"$info" || return 1
  done
  local masters
  masters=$(cli "$BASE" cluster nodes 2>/dev/null | awk '$3 ~ /master/ && $3 !~ /fail/ && $9 != "" { n++ } END { print n + 0 }')
  [ "$masters" -eq "$PRIMARIES" ] || return 1
  [ "$REPLICAS" -eq 0 ] && return 0
  local online
  online=$(cli "$BASE" cluster nodes 2>/dev/null | awk '$3 ~ /slave/ && $3 !~ /fail/ && $8 == "connected" { n++ } END { print n + 0 }')
  [ "$online" -eq $((PRIMARIES * REPLICAS)) ] || return 1
  # A replica is attached once its primary lists it as online.
  local attached=0
  for p in $(ports); do
    if cli "$p" info replication 2>/dev/null | grep -q '^role:master'; then
      attached=$((attached + $(cli "$p" info replication | grep -c '^slave[0-9]*:.*state=online' || true)))
    fi
  done
  [ "$attached" -eq $((PRIMARIES * REPLICAS)) ]
}

wait_healthy() {
  local i
  for ((i = 0; i < 150; i++)); do
    healthy && return 0
    sleep 0.2
  done
  return 1
}

start() {
  if [ -d "$DIR" ]; then
    local all=1 p
    for p in $(ports); do alive "$DIR/$p/node.pid" || all=0; done
    if [ "$all" -eq 1 ] && wait_healthy; then
      log "already running from $DIR"
      nodes_line
      return 0
    fi
    log "stale or partial cluster in $DIR: starting afresh"
    stop_dir
  fi
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  local p
  for p in $(ports); do
    if cli "$p" ping >/dev/null 2>&1; then
      echo "valkey-cluster.sh: port $p already answers (not started from $DIR); pick another --base-port" >&2
      exit 1
    fi
  done
  for p in $(ports); do
    mkdir -p "$DIR/$p"
    cat >"$DIR/$p/node.conf" <<EOF
bind 127.0.0.1
port $p
dir $DIR/$p
cluster-enabled yes
cluster-config-file $DIR/$p/nodes.conf
cluster-node-timeout $NODE_TIMEOUT_MS
cluster-replica-validity-factor 0
save ""
appendonly no
daemonize yes
pidfile $DIR/$p/node.pid
logfile $DIR/$p/node.log
maxmemory 256mb
EOF
    "$SERVER" "$DIR/$p/node.conf"
  done
  for p in $(ports); do
    local i
    for ((i = 0; i < 50; i++)); do cli "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local addrs=()
  for p in $(ports); do addrs+=("127.0.0.1:$p"); done
  log "creating the cluster (${PRIMARIES} primaries, ${REPLICAS} replica(s) each)"
  # --cluster create makes the first PRIMARIES addresses primaries, the rest their replicas.
  "$CLI" --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS" --cluster-yes >"$DIR/create.log" 2>&1 || {
    cat "$DIR/create.log" >&2
    exit 1
  }
  if ! wait_healthy; then
    echo "valkey-cluster.sh: cluster in $DIR not healthy after 30 s" >&2
    cli "$BASE" cluster nodes >&2 || true
    exit 1
  fi
  log "ready in $DIR"
  nodes_line
}

case "$cmd" in
  start) start ;;
  stop) stop_dir ;;
  *) echo "usage: $0 start [--base-port P] [--dir D] [--replicas N] | stop [--dir D]" >&2; exit 2 ;;
esac
