#!/usr/bin/env bash
# What a second core buys: rubra-server with one worker thread (the node pinned to one CPU)
# and with one worker per CPU (unpinned), against redis-server (one command thread), with
# redis-benchmark free to run on every CPU in all three cases, so the client competes with
# the server for the same cores as it would on a shared machine. Prints requests/s per
# setup and the ratios to redis-server (median of the rounds).
#
# Usage: bench/multicore.sh [requests-per-test (default 200000)] [rounds (default 3)]
# Env:   TESTS=set,get  PIPELINES="1 16"  CLIENTS=50, and bench/lib.sh's RUBRA_BIN.
# Needs: redis-server, redis-benchmark, redis-cli, taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-1 16}
CLIENTS=${CLIENTS:-50}
RUBRA_PORT=${RUBRA_PORT:-17579}
REDIS_PORT=${REDIS_PORT:-17580}
PIN=0
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools redis-server redis-benchmark redis-cli taskset
build_rubra
make_workdir
[ "$(nproc)" -ge 2 ] || { echo "needs 2+ CPUs" >&2; exit 1; }

declare -A RPS
# bench_one SETUP WHO: one redis-benchmark run per test and pipeline against WHO.
bench_one() {
  local setup=$1 who=$2 pipeline test rps
  for pipeline in $PIPELINES; do
    redis-cli -p "$(port "$who")" flushall >/dev/null
    while IFS=, read -r test rps; do
      RPS[$setup $test P$pipeline]="${RPS[$setup $test P$pipeline]:-} $rps"
    done < <(redis-benchmark -p "$(port "$who")" -c "$CLIENTS" -n "$N" -P "$pipeline" -r 100000 \
      -t "$TESTS" --csv 2>/dev/null | awk -F'","' 'NR > 1 { t = $1; sub(/^"/, "", t); gsub(/ /, "_", t); print t "," $2 }')
  done
}

for round in $(seq "$ROUNDS"); do
  start redis; bench_one redis redis; stop redis
  SRV_CPU="taskset -c 1"; start rubra; bench_one rubra-1 rubra; stop rubra
  SRV_CPU=""; start rubra; bench_one "rubra-$(nproc)" rubra; stop rubra
done

many="rubra-$(nproc)"
echo
echo "requests/s, client unpinned on $(nproc) CPUs, -c $CLIENTS, n=$N, median of $ROUNDS"
printf '%-16s %10s %10s %10s | %8s %8s\n' test redis rubra-1 "$many" "1/redis" "$(nproc)/redis"
for pipeline in $PIPELINES; do
  for key in $(printf '%s\n' "${!RPS[@]}" | awk -v p="P$pipeline" '$1 == "redis" && $3 == p { print $2 }' | sort -u); do
    r=$(echo "${RPS[redis $key P$pipeline]}" | median)
    a=$(echo "${RPS[rubra-1 $key P$pipeline]}" | median)
    b=$(echo "${RPS[$many $key P$pipeline]}" | median)
    printf '%-16s %10.0f %10.0f %10.0f | %8s %8s\n' "$key P$pipeline" "$r" "$a" "$b" \
      "$(ratio "$a" "$r")" "$(ratio "$b" "$r")"
  done
done
