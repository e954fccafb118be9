#!/usr/bin/env bash
# Writes with a replica attached, rubra vs Debian's redis-server, side by side: the setup of
# every pair `rubra up` runs. For each server a primary and its replica (both pinned to CPU 1,
# so the replica's work competes with the primary's as on a loaded host) and redis-benchmark
# (pinned to CPU 0) run each write test; the servers alternate within each round.
# Prints one table of ratios rubra/redis:
#   rps      requests per second at the primary
#   prim cpu the primary's CPU seconds (user+system, /proc) per million requests
#   repl cpu the replica's, for applying the same stream
#   p99      redis-benchmark's p99 latency in ms
# and checks after each test that the replica reached the primary's offset.
#
# Usage: bench/replication.sh [requests-per-test (default 200000)] [rounds (default 3)]
# Env:   TESTS=set,incr,...  PIPELINES="1 16"  RAW=file appends "who P test round rps cpu p99"
#        lines (cpu = primary + replica) for bench/paired.py; bench/lib.sh's PIN, RUBRA_BIN.
# Needs: redis-server, redis-benchmark, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
TESTS=${TESTS:-set,incr,lpush,sadd,hset,zadd,mset}
PIPELINES=${PIPELINES:-1 16}
RUBRA_PORT=${RUBRA_PORT:-17679}
REDIS_PORT=${REDIS_PORT:-17680}
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools redis-server redis-benchmark redis-cli
build_rubra
make_workdir
replica_port() { echo $(($(port "$1") + 1000)); }
stop_all() {
  for p in "$RUBRA_PORT" "$REDIS_PORT" $((RUBRA_PORT + 1000)) $((REDIS_PORT + 1000)); do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
}
trap 'stop_all; rm -rf "$WORK"' EXIT

declare -A RPID
# start_pair WHO: the primary (lib.sh's start) and a replica of it, synchronised.
start_pair() {
  local who=$1 rp dir
  rp=$(replica_port "$who")
  start "$who"
  dir="$WORK/replica-$who"
  mkdir -p "$dir"
  if [ "$who" = rubra ]; then
    $SRV_CPU "$RUBRA_BIN" --port "$rp" --save "" --dir "$dir" --replicaof 127.0.0.1 "$(port "$who")" >"$dir/log" 2>&1 &
  else
    $SRV_CPU redis-server --port "$rp" --save "" --appendonly no --dir "$dir" --daemonize no \
      --replicaof 127.0.0.1 "$(port "$who")" >"$dir/log" 2>&1 &
  fi
  RPID[$who]=$!
  # Redis waits repl-diskless-sync-delay (5 s) before the first full sync.
  for _ in $(seq 200); do
    redis-cli -p "$rp" info replication 2>/dev/null | grep -q '^master_link_status:up' && return
    sleep 0.1
  done
  echo "$who: the replica did not sync" >&2; exit 1
}
offset() { redis-cli -p "$1" info replication | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }
# caught_up WHO: waits until the replica has applied everything the primary produced.
caught_up() {
  local want
  want=$(offset "$(port "$1")" master_repl_offset)
  for _ in $(seq 100); do
    [ "$(offset "$(replica_port "$1")" slave_repl_offset)" = "$want" ] && return
    sleep 0.1
  done
  echo "$1: the replica did not reach offset $want" >&2; exit 1
}

declare -A RPS PCPU RCPU P99
for who in rubra redis; do start_pair "$who"; done
# one_run WHO PIPELINE TEST ROUND N: one redis-benchmark run on a caught-up pair.
one_run() {
  local who=$1 pipeline=$2 test=$3 round=$4 n=$5 p key a0 a1 b0 b1 line rps p99 pc rc
  p=$(port "$who")
  key="P$pipeline $test"
  redis-cli -p "$p" flushall >/dev/null
  caught_up "$who"
  a0=$(ticks "${PID[$who]}"); b0=$(ticks "${RPID[$who]}")
  line=$($CLI_CPU redis-benchmark -p "$p" -c 50 -n "$n" -P "$pipeline" -t "$test" --csv -q 2>/dev/null | tail -1)
  caught_up "$who"
  a1=$(ticks "${PID[$who]}"); b1=$(ticks "${RPID[$who]}")
  rps=$(csv_field "$line" 2); p99=$(csv_field "$line" 7)
  pc=$(cpu_per_mreq $((a1 - a0)) "$n"); rc=$(cpu_per_mreq $((b1 - b0)) "$n")
  RPS[$who $key]="${RPS[$who $key]:-} $rps"; P99[$who $key]="${P99[$who $key]:-} $p99"
  PCPU[$who $key]="${PCPU[$who $key]:-} $pc"; RCPU[$who $key]="${RCPU[$who $key]:-} $rc"
  [ -z "${RAW:-}" ] || echo "$who P$pipeline $test $round $rps $(awk -v a="$pc" -v b="$rc" 'BEGIN { print a + b }') $p99" >>"$RAW"
}
each_run one_run

echo
echo "writes with one replica (-c 50, n=$N, pipelined n=$((N * 4)), median of $ROUNDS, pinned=$PIN)"
printf '%-14s %9s %9s %5s | %7s %7s %5s | %7s %7s %5s | %6s %6s %5s\n' workload "rubra rps" "redis rps" ratio \
  "r prim" "R prim" ratio "r repl" "R repl" ratio "r p99" "R p99" ratio
for pipeline in $PIPELINES; do
  for test in ${TESTS//,/ }; do
    key="P$pipeline $test"
    m() { echo "${1}" | median; }
    a=$(m "${RPS[rubra $key]}"); b=$(m "${RPS[redis $key]}")
    c=$(m "${PCPU[rubra $key]}"); d=$(m "${PCPU[redis $key]}")
    e=$(m "${RCPU[rubra $key]}"); f=$(m "${RCPU[redis $key]}")
    g=$(m "${P99[rubra $key]}"); h=$(m "${P99[redis $key]}")
    printf '%-14s %9.0f %9.0f %5s | %7.3f %7.3f %5s | %7.3f %7.3f %5s | %6.3f %6.3f %5s\n' "$key" \
      "$a" "$b" "$(ratio "$a" "$b")" "$c" "$d" "$(ratio "$c" "$d")" "$e" "$f" "$(ratio "$e" "$f")" \
      "$g" "$h" "$(ratio "$g" "$h")"
  done
done
echo "(prim/repl = CPU seconds per million requests of the primary / the replica; ratios rubra/redis)"
