#!/usr/bin/env bash
# The chaos suite's long run (issue 14): crates/server/tests/chaos.rs with a long fault
# schedule, against rubra-server and against redis-server 7.0 (the reference), each a
# 6-node cluster (3 primaries + 3 replicas, node timeout 2000 ms, AOF appendfsync always)
# under concurrent INCR/SADD/RPUSH/SET clients, a quarter of the writes confirmed with
# WAIT 1 500. Faults (every kind once per round, seeded order): kill -9 + restart of a
# primary, a replica, both nodes of a pair, a primary that returns after its replica's
# promotion; SIGSTOP longer than the node timeout; as root, in network namespaces: a
# partition, a primary cut from its replica, a flapping link, one-way packet loss, a
# full disk (each node's directory is a tmpfs), and slots moved between two other
# shards while one of those hits. Each run prints its report table; the script fails if
# either checker fails.
#
# The two servers run at the same time (each in namespaces of its own); SEQUENTIAL=1 runs
# them one after the other. The test binary and rubra-server are copied first, so
# rebuilding the tree during a run changes nothing.
#
# Usage: bench/chaos.sh [minutes (default 30)] [seed (default: time)]
#   SERVERS=rubra bench/chaos.sh 30        only rubra (SERVERS=redis: only the reference)
#   RUBRA_CHAOS_CLIENTS=8 bench/chaos.sh   more clients (default 4)
#   RUBRA_CHAOS_NODES=12 bench/chaos.sh    12 nodes (6 pairs)
#   RUBRA_CHAOS_NETNS=0 bench/chaos.sh     loopback only: no network or disk faults
#   UP=1 bench/chaos.sh                    also crates/manager/tests/chaos_up.rs (rubra up:
#                                          supervisor kill -9, scaling by pairs) as long,
#                                          with UP_CLIENTS clients (default 2)
# Replay a failure with the seed and minutes it printed. Output goes to
# chaos-<server>-<seed>.log in LOG_DIR (default: the directory the script was started from).
# Needs: redis-server, redis-cli (apt-get install -y redis-server redis-tools); root for
# namespaces and tmpfs.
set -euo pipefail
LOG_DIR=${LOG_DIR:-$PWD}
cd "$(dirname "$0")/.."

MINUTES=${1:-30}
SEED=${2:-$(( $(date +%s) % 1000000007 ))}
SERVERS=${SERVERS:-rubra,redis}
# Each node's tmpfs must hold the AOF of the whole run (only what is used takes memory).
export RUBRA_CHAOS_DISK_MB=${RUBRA_CHAOS_DISK_MB:-$(( 256 + MINUTES * 24 ))}
# A fault the cluster did not converge after is noted in the report; the run goes on.
export RUBRA_CHAOS_KEEP_GOING=${RUBRA_CHAOS_KEEP_GOING:-1}

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

# The test executable of `cargo test -p CRATE --test NAME`, built now.
test_bin() {
  cargo test -p "$1" --test "$2" --no-run --message-format=json 2>/dev/null \
    | grep -F '"kind":["test"]' | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4
}
work=$(mktemp -d /tmp/rubra-chaos-long.XXXXXX)
cp "$(test_bin rubra-server chaos)" "$work/chaos"
cp target/debug/rubra-server "$work/rubra-server"
if [ "${UP:-0}" = 1 ]; then
  cp "$(test_bin rubra-manager chaos_up)" "$work/chaos_up"
fi

run() { # server
  local server=$1 log="$LOG_DIR/chaos-$1-$SEED.log"
  echo "== chaos: $server, $MINUTES min, seed $SEED -> $log"
  RUBRA_CHAOS_SERVER=$server RUBRA_CHAOS_BIN=$([ "$server" = rubra ] && echo "$work/rubra-server" || echo redis-server) \
    RUBRA_CHAOS_SECS=$((MINUTES * 60)) RUBRA_CHAOS_SEED=$SEED \
    "$work/chaos" --nocapture >"$log" 2>&1
}

status=0
pids=()
for server in ${SERVERS//,/ }; do
  if [ "${SEQUENTIAL:-0}" = 1 ]; then
    run "$server" || status=1
  else
    run "$server" & pids+=($!)
  fi
done
if [ "${UP:-0}" = 1 ]; then
  log="$LOG_DIR/chaos-up-$SEED.log"
  echo "== chaos_up: rubra up, $MINUTES min, seed $SEED -> $log"
  RUBRA_CHAOS_UP_SECS=$((MINUTES * 60)) RUBRA_CHAOS_SEED=$SEED RUBRA_CHAOS_CLIENTS=${UP_CLIENTS:-2} \
    "$work/chaos_up" --nocapture >"$log" 2>&1 &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p" || status=1; done
for server in ${SERVERS//,/ }; do
  sed -n '/chaos report/,/^test /p' "$LOG_DIR/chaos-$server-$SEED.log"
done
[ "${UP:-0}" = 1 ] && sed -n '/chaos_up report/,/^test /p' "$LOG_DIR/chaos-up-$SEED.log"
rm -rf "$work"
exit $status
