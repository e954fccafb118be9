#!/usr/bin/env bash
# EVALSHA of a small script (GET + INCR on one key) with redis-benchmark: Rubra vs Debian's
# redis-server side by side, each server pinned to one CPU and the benchmark to the other
# (bench/lib.sh), run alternately; prints requests/s, server CPU per million requests and
# the ratios rubra/redis (median of the rounds). Single commands are compare.sh's job.
#
# Usage: bench/scripting.sh [requests (default 200000)] [rounds (default 3)]
# Env:   PIPELINES="1 16", CLIENTS=50, and bench/lib.sh's PIN / RUBRA_BIN.
# Needs: redis-server, redis-benchmark, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
PIPELINES=${PIPELINES:-1 16}
CLIENTS=${CLIENTS:-50}
RUBRA_PORT=${RUBRA_PORT:-17479}
REDIS_PORT=${REDIS_PORT:-17480}
SCRIPT="local v = redis.call('GET', KEYS[1]) redis.call('INCR', KEYS[1]) return v"
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools redis-server redis-benchmark redis-cli
[ "$PIN" = 1 ] && need_tools taskset
build_rubra
make_workdir
for who in rubra redis; do start "$who"; done

declare -A RPS CPU
for pipeline in $PIPELINES; do
  for round in $(seq "$ROUNDS"); do
    # Alternate which server goes first, so neither always gets the warmer machine.
    if (( round % 2 )); then order="rubra redis"; else order="redis rubra"; fi
    for who in $order; do
      p=$(port "$who")
      redis-cli -p "$p" flushall >/dev/null
      sha=$(redis-cli -p "$p" script load "$SCRIPT")
      t0=$(ticks "${PID[$who]}")
      rps=$($CLI_CPU redis-benchmark -p "$p" -c "$CLIENTS" -n "$N" -P "$pipeline" -r 100000 --csv \
        EVALSHA "$sha" 1 "key:__rand_int__" 2>/dev/null | awk -F'","' 'NR==2 { print $2 }')
      t1=$(ticks "${PID[$who]}")
      RPS[$who P$pipeline]="${RPS[$who P$pipeline]:-} $rps"
      CPU[$who P$pipeline]="${CPU[$who P$pipeline]:-} $(cpu_per_mreq $((t1 - t0)) "$N")"
    done
  done
done
for who in rubra redis; do stop "$who"; done

echo
echo "EVALSHA (GET + INCR script), -c $CLIENTS, n=$N, median of $ROUNDS, pinned=$PIN"
printf '%-6s %10s %10s %6s | %9s %9s %6s\n' pipe "rubra rps" "redis rps" ratio "rubra cpu" "redis cpu" ratio
for pipeline in $PIPELINES; do
  a=$(echo "${RPS[rubra P$pipeline]}" | median); b=$(echo "${RPS[redis P$pipeline]}" | median)
  ca=$(echo "${CPU[rubra P$pipeline]}" | median); cb=$(echo "${CPU[redis P$pipeline]}" | median)
  printf '%-6s %10.0f %10.0f %6s | %9.3f %9.3f %6s\n' "P$pipeline" "$a" "$b" "$(ratio "$a" "$b")" \
    "$ca" "$cb" "$(ratio "$ca" "$cb")"
done
echo "(cpu = server CPU seconds per million requests; ratios are rubra/redis)"
