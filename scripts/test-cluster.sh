#!/usr/bin/env bash
# `npm run test:cluster`: the vitest "server" project once more, with the
# suite's shared Valkey replaced by a local Valkey Cluster (3 primaries, one
# replica each, ports 7100-7105: never 6379). Uses a cluster already up on
# HALO_CLUSTER_BASE_PORT, else starts one with scripts/valkey-cluster.sh and
# stops it afterwards. Extra arguments go to vitest (e.g. a test file).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE=${HALO_CLUSTER_BASE_PORT:-7100}
DIR=${HALO_CLUSTER_DIR:-.data/valkey-cluster}
CLI=$(command -v valkey-cli || command -v redis-cli)
started=0
if "$CLI" -h 127.0.0.1 -p "$BASE" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
  echo "test:cluster: using the cluster already up on 127.0.0.1:$BASE"
  NODES="127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
else
  line=$(scripts/valkey-cluster.sh start --base-port "$BASE" --dir "$DIR" | tail -n 1)
  NODES=${line#VALKEY_CLUSTER_NODES=}
  started=1
fi
cleanup() { [ "$started" -eq 1 ] && scripts/valkey-cluster.sh stop --dir "$DIR"; }
trap cleanup EXIT

echo "test:cluster: VALKEY_CLUSTER_NODES=$NODES"
HALO_TEST_VALKEY_CLUSTER=$NODES npx vitest run --project server "$@"
