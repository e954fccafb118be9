#!/usr/bin/env bash
# Before/after for one change: two rubra-server builds (no redis-server), OLD and NEW, run
# the same redis-benchmark workloads alternately in each round (a fresh server per run,
# pinned as compare.sh pins), and bench/paired.py prints each ratio NEW/OLD with its 90%
# confidence interval over the rounds. The box's speed drifts between runs; the ratio of
# two runs of one round drifts far less, which is what makes a 5% change visible.
#
# Usage: bench/ab.sh OLD_BIN NEW_BIN [requests per run (default 2000000)] [rounds (default 8)]
#        e.g. git worktree add /tmp/old HEAD~1 && (cd /tmp/old && cargo build --release)
#             bench/ab.sh /tmp/old/target/release/rubra-server target/release/rubra-server
# Env:   TESTS=get,set,...  P=16 (pipeline)  C=50 (clients)  RAW=file keeps the runs; bench/lib.sh's PIN.
# Needs: redis-benchmark, redis-cli (apt-get install -y redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 1; }
OLD_BIN=$(realpath "$1")
NEW_BIN=$(realpath "$2")
N=${3:-2000000}
ROUNDS=${4:-8}
TESTS=${TESTS:-get,set,lpop,incr}
P=${P:-16}
C=${C:-50}
RUBRA_PORT=${RUBRA_PORT:-17479}
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools redis-benchmark redis-cli python3
make_workdir
RAW=${RAW:-$WORK/raw}

# one_run LABEL BIN TEST ROUND: one redis-benchmark run against a fresh server of BIN.
one_run() {
  local label=$1 test=$3 round=$4 t0 t1 line
  RUBRA_BIN=$2
  start rubra
  t0=$(ticks "${PID[rubra]}")
  line=$($CLI_CPU redis-benchmark -p "$RUBRA_PORT" -c "$C" -n "$N" -P "$P" -t "$test" --csv -q 2>/dev/null | tail -1)
  t1=$(ticks "${PID[rubra]}")
  stop rubra
  echo "$label P$P $test $round $(csv_field "$line" 2) $(cpu_per_mreq $((t1 - t0)) "$N") $(csv_field "$line" 7)" >>"$RAW"
}

for round in $(seq "$ROUNDS"); do
  # Alternate which build goes first, so neither always gets the warmer machine.
  if (( round % 2 )); then order="new old"; else order="old new"; fi
  for test in ${TESTS//,/ }; do
    for label in $order; do
      if [ "$label" = new ]; then one_run new "$NEW_BIN" "$test" "$round"; else one_run old "$OLD_BIN" "$test" "$round"; fi
    done
  done
done
echo "NEW = $NEW_BIN"
echo "OLD = $OLD_BIN"
echo "(-c $C, -P $P, n=$N per run, $ROUNDS rounds, pinned=$PIN; cpu = server CPU seconds per million requests)"
python3 bench/paired.py "$RAW" new old
