#!/usr/bin/env bash
# The chaos suite's long run (issue 14): crates/server/tests/chaos.rs with a longer fault
# schedule, against rubra-server and then against redis-server 7.0 (the reference), each
# a 6-node cluster (3 primaries + 3 replicas, node timeout 2000 ms, AOF appendfsync
# always) under concurrent INCR/SADD/RPUSH/SET clients, a quarter of the writes
# confirmed with WAIT 1 500. Faults: kill -9 + restart of a primary or a replica,
# SIGSTOP longer than the node timeout, and (as root) a network-namespace partition.
# Each run prints its report table; the script fails if either checker fails.
#
# Usage: bench/chaos.sh [minutes (default 15)] [seed (default: time)]
#   SERVERS=rubra bench/chaos.sh 30        only rubra (SERVERS=redis: only the reference)
#   RUBRA_CHAOS_CLIENTS=8 bench/chaos.sh   more clients (default 4)
#   RUBRA_CHAOS_NETNS=0 bench/chaos.sh     loopback only, no partitions
# Replay a failure with the seed and minutes it printed. Output also goes to
# chaos-<server>-<seed>.log in the directory the script was started from (LOG_DIR=...).
# Needs: redis-server, redis-cli (apt-get install -y redis-server redis-tools); root for
# partitions.
set -euo pipefail
LOG_DIR=${LOG_DIR:-$PWD}
cd "$(dirname "$0")/.."

MINUTES=${1:-15}
SEED=${2:-$(( $(date +%s) % 1000000007 ))}
SERVERS=${SERVERS:-rubra,redis}

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

# The checker is the test binary itself (built once, run per server).
cargo test -p rubra-server --test chaos --no-run --quiet
status=0
for server in ${SERVERS//,/ }; do
  echo "== chaos: $server, $MINUTES min, seed $SEED"
  log="$LOG_DIR/chaos-$server-$SEED.log"
  if ! RUBRA_CHAOS_SERVER=$server RUBRA_CHAOS_SECS=$((MINUTES * 60)) RUBRA_CHAOS_SEED=$SEED \
      cargo test -p rubra-server --test chaos --quiet -- --nocapture 2>&1 | tee "$log"; then
    status=1
  fi
done
exit $status
