#!/usr/bin/env bash
# What a second core buys: rubra-server with one worker thread (the node pinned to one CPU)
# and with one worker per CPU (unpinned), against redis-server (one command thread), with
# redis-benchmark free to run on every CPU in all three cases, so the client competes with
# the server for the same cores as it would on a shared machine. Prints requests/s per
# setup and the ratios to redis-server (median of the rounds).
#
# Then, with perf available, the part a bigger machine would change: rubra with one worker per
# CPU is sampled (perf record, DWARF call graphs) under each test, and the share of its CPU
# spent in `conn::process` -- the code that runs under the one store lock (parse, execute,
# encode) -- is printed with the Amdahl bound it implies (1/share: the most any number of
# cores can gain over one while that lock serializes commands).
#
# Usage: bench/multicore.sh [requests-per-test (default 200000)] [rounds (default 3)]
# Env:   TESTS=set,get  PIPELINES="1 16"  CLIENTS=50, and bench/lib.sh's RUBRA_BIN;
#        PARTS="throughput lock" (default both).
# Needs: redis-server, redis-benchmark, redis-cli, taskset; perf (linux-perf) for "lock".
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

PARTS=${PARTS:-throughput lock}
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
  [[ $PARTS == *throughput* ]] || break
  start redis; bench_one redis redis; stop redis
  SRV_CPU="taskset -c 1"; start rubra; bench_one rubra-1 rubra; stop rubra
  SRV_CPU=""; start rubra; bench_one "rubra-$(nproc)" rubra; stop rubra
done

many="rubra-$(nproc)"
[[ $PARTS == *throughput* ]] && {
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
}

# lock_share TEST PIPELINE: percent of the server's sampled CPU inside conn::process.
lock_share() {
  local test=$1 pipeline=$2 data="$WORK/perf.$1.$2"
  timeout 12 redis-benchmark -p "$RUBRA_PORT" -c "$CLIENTS" -n 100000000 -P "$pipeline" -r 100000 \
    -t "$test" -q >/dev/null 2>&1 &
  local bench=$!
  sleep 2
  perf record -F 499 --call-graph dwarf,8192 -p "${PID[rubra]}" -o "$data" -- sleep 4 >/dev/null 2>&1
  kill "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  perf report -i "$data" --children --stdio --no-demangle -g none 2>/dev/null |
    awk '/rubra_server4conn7process/ && !done { sub(/%/, "", $1); print $1; done = 1 }'
}

if [[ $PARTS == *lock* ]]; then
  if ! command -v perf >/dev/null; then
    echo "perf not found (apt-get install -y linux-perf): lock share skipped" >&2
    exit 0
  fi
  SRV_CPU=""; start rubra
  # The keys the tests read exist, as in the throughput part (SET runs before GET there).
  redis-benchmark -p "$RUBRA_PORT" -n 200000 -P 16 -r 100000 -t set -q >/dev/null 2>&1
  echo
  echo "rubra, one worker per CPU: share of server CPU under the store lock (conn::process)"
  printf '%-16s %8s %16s\n' test "locked" "max gain (1/s)"
  for pipeline in $PIPELINES; do
    for test in ${TESTS//,/ }; do
      share=$(lock_share "$test" "$pipeline")
      printf '%-16s %7s%% %16s\n' "$test P$pipeline" "${share:-?}" \
        "$(awk -v s="${share:-0}" 'BEGIN { if (s > 0) printf "%.1fx", 100 / s; else print "n/a" }')"
    done
  done
  stop rubra
fi
