#!/usr/bin/env bash
# Where per-request kernel work comes from, rubra vs redis-server side by side: for one
# redis-benchmark test, the server's context switches, epoll_wait calls and socket reads per
# request, counted with perf tracepoints (no hardware counters needed), plus server CPU per
# request. Servers are pinned to CPU 1 and the client to CPU 0 (bench/lib.sh), run
# alternately, a fresh server per round; prints each round and the median ratio rubra/redis.
# Counting syscall tracepoints slows both servers down (GET -P 1 ran at ~15k requests/s under
# it against ~50k without on this VM), so the counts describe a slowed-down exchange: compare
# the two servers with it, not the absolute figures with bench/compare.sh.
#
# Usage: bench/wakeups.sh [requests (default 200000)] [rounds (default 3)]
# Env:   TEST=get  PIPELINE=1  CLIENTS=50, and bench/lib.sh's RUBRA_BIN / PIN.
# Needs: redis-server, redis-benchmark, redis-cli, perf (linux-perf) with tracepoint access.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
TEST=${TEST:-get}
PIPELINE=${PIPELINE:-1}
CLIENTS=${CLIENTS:-50}
RUBRA_PORT=${RUBRA_PORT:-17585}
REDIS_PORT=${REDIS_PORT:-17586}
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools redis-server redis-benchmark redis-cli perf
build_rubra
make_workdir

EVENTS=sched:sched_switch,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read
declare -A SW EP RD CPU
# one WHO: a fresh server, a warm-up, then the counted run under perf stat.
one() {
  local who=$1 p pid t0 t1 perf_pid
  start "$who"
  p=$(port "$who"); pid=${PID[$who]}
  $CLI_CPU redis-benchmark -p "$p" -c "$CLIENTS" -n 20000 -P "$PIPELINE" -t "$TEST" -q >/dev/null 2>&1
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$WORK/perf.$who" &
  perf_pid=$!
  sleep 0.3
  t0=$(ticks "$pid")
  $CLI_CPU redis-benchmark -p "$p" -c "$CLIENTS" -n "$N" -P "$PIPELINE" -t "$TEST" -q >/dev/null 2>&1
  t1=$(ticks "$pid")
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  count() { awk -F, -v e="$1" '$3 == e { print $1 + 0 }' "$WORK/perf.$who"; }
  SW[$who]+=" $(awk -v c="$(count sched:sched_switch)" -v n="$N" 'BEGIN { printf "%.4f", c / n }')"
  EP[$who]+=" $(awk -v c="$(count syscalls:sys_enter_epoll_wait)" -v n="$N" 'BEGIN { printf "%.4f", c / n }')"
  RD[$who]+=" $(awk -v a="$(count syscalls:sys_enter_recvfrom)" -v b="$(count syscalls:sys_enter_read)" -v n="$N" 'BEGIN { printf "%.4f", (a + b) / n }')"
  CPU[$who]+=" $(cpu_per_mreq $((t1 - t0)) "$N")"
  stop "$who"
}

echo "per request, $TEST -P $PIPELINE -c $CLIENTS, n=$N, pinned=$PIN"
printf '%-6s %-6s %10s %12s %10s %12s\n' round server switches epoll_wait reads "cpu s/Mreq"
for r in $(seq "$ROUNDS"); do
  for who in rubra redis; do
    one "$who"
    printf '%-6s %-6s %10s %12s %10s %12s\n' "$r" "$who" "$(echo "${SW[$who]}" | awk '{print $NF}')" \
      "$(echo "${EP[$who]}" | awk '{print $NF}')" "$(echo "${RD[$who]}" | awk '{print $NF}')" \
      "$(echo "${CPU[$who]}" | awk '{print $NF}')"
  done
done
echo
printf 'median ratio rubra/redis: switches %s  epoll_wait %s  reads %s  cpu %s\n' \
  "$(ratio "$(echo "${SW[rubra]}" | median)" "$(echo "${SW[redis]}" | median)")" \
  "$(ratio "$(echo "${EP[rubra]}" | median)" "$(echo "${EP[redis]}" | median)")" \
  "$(ratio "$(echo "${RD[rubra]}" | median)" "$(echo "${RD[redis]}" | median)")" \
  "$(ratio "$(echo "${CPU[rubra]}" | median)" "$(echo "${CPU[redis]}" | median)")"
