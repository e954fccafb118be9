#!/usr/bin/env bash
# Rubra vs Debian's redis-server, side by side on this machine: the same redis-benchmark
# workloads run alternately against both, then memory per key for the datasets of issue 17.
# Prints one table of ratios rubra/redis:
#   rps      requests per second (higher is better for rubra)
#   cpu/Mreq server CPU seconds (user+system from /proc/PID/stat) per million requests
#   p99      redis-benchmark's p99 latency in ms
#   cli busy redis-benchmark's CPU time over wall time (near 1.00: the client is the limit)
#   rss/key  resident memory growth per key (fresh server per dataset, loaded with --pipe)
#   used/key INFO used_memory growth per key
#
# Usage: bench/compare.sh [requests-per-test (default 200000)] [rounds (default 3)]
# Env:   PIN=1 (default when 2+ CPUs) pins each server to CPU 1 and redis-benchmark to CPU 0;
#        RUBRA_BIN=path compares another rubra-server build (e.g. an older commit's);
#        TESTS=set,get,...  PIPELINES="1 16"  MEMORY=0 skips the memory table;
#        PIPELINED_SCALE=4 runs pipelined tests with that many times the requests;
#        PARTS=memory runs only the memory table (PARTS=throughput only the first table);
#        DATASETS="hashes sets" limits the memory table to some datasets;
#        SCALE=10 divides the memory datasets' sizes (quick runs);
#        RAW=file appends every run (who P test round rps cpu p99) for bench/paired.py.
# Needs: redis-server, redis-benchmark, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
TESTS=${TESTS:-set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset}
PIPELINES=${PIPELINES:-1 16}
PIPELINED_SCALE=${PIPELINED_SCALE:-4}
MEMORY=${MEMORY:-1}
PARTS=${PARTS:-throughput memory}
DATASETS=${DATASETS:-strings integers ttl hashes sets zsets lists}
case " $PARTS " in *" memory "*) ;; *) MEMORY=0 ;; esac
SCALE=${SCALE:-1}
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools redis-server redis-benchmark redis-cli
build_rubra
make_workdir
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '/^used_memory:/ { print $2 }'; }
# wins "A1 A2 ..." "B1 B2 ...": in how many rounds Ai > Bi (the same round's pair, so a slow
# patch of the machine hits both sides; the medians alone hide how noisy a cell is).
wins() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); w = 0
  for (i = 1; i <= n; i++) if (x[i] + 0 > y[i] + 0) w++; print w }'; }

declare -A RPS CPU P99 BUSY
# The benchmark client's CPU time over wall time: near 1.00, redis-benchmark's own core is
# saturated and rps measure the client rather than the server (then compare cpu/Mreq).
TIMEFORMAT='%3R %3U %3S'
if [[ " $PARTS " == *" throughput "* ]]; then
# one_run WHO PIPELINE TEST ROUND N: one redis-benchmark run, its figures appended.
one_run() {
  local who=$1 pipeline=$2 test=$3 round=$4 n=$5 p key t0 t1 line busy rps p99 cpu
  p=$(port "$who")
  key="P$pipeline $test"
  redis-cli -p "$p" flushall >/dev/null
  t0=$(ticks "${PID[$who]}")
  # The last row: an lrange test prints its LPUSH fill first ("LPUSH (needed to
  # benchmark LRANGE)"), then the LRANGE row. The CPU figure covers both.
  # `time` also gives the client's own CPU share of the run (see BUSY).
  { time $CLI_CPU redis-benchmark -p "$p" -c 50 -n "$n" -P "$pipeline" -t "$test" --csv -q >"$WORK/bench.csv" 2>/dev/null; } 2>"$WORK/bench.time"
  t1=$(ticks "${PID[$who]}")
  line=$(awk 'NR > 1' "$WORK/bench.csv" | tail -1)
  busy=$(awk '{ if ($1 > 0) printf "%.2f", ($2 + $3) / $1; else print 0 }' "$WORK/bench.time")
  rps=$(csv_field "$line" 2); p99=$(csv_field "$line" 7); cpu=$(cpu_per_mreq $((t1 - t0)) "$n")
  BUSY[$who $key]="${BUSY[$who $key]:-} $busy"
  RPS[$who $key]="${RPS[$who $key]:-} $rps"
  P99[$who $key]="${P99[$who $key]:-} $p99"
  CPU[$who $key]="${CPU[$who $key]:-} $cpu"
  [ -z "${RAW:-}" ] || echo "$who P$pipeline $test $round $rps $cpu $p99" >>"$RAW"
}
for who in rubra redis; do start "$who"; done
each_run one_run
for who in rubra redis; do stop "$who"; done

echo
echo "throughput, CPU and latency (-c 50, n=$N, pipelined n=$((N * PIPELINED_SCALE)), median of $ROUNDS, pinned=$PIN)"
printf '%-16s %10s %10s %6s %5s | %9s %9s %6s | %7s %7s %6s | %9s\n' workload "rubra rps" "redis rps" ratio wins \
  "rubra cpu" "redis cpu" ratio "r p99" "R p99" ratio "cli busy"
for pipeline in $PIPELINES; do
  for test in ${TESTS//,/ }; do
    key="P$pipeline $test"
    a=$(echo "${RPS[rubra $key]}" | median); b=$(echo "${RPS[redis $key]}" | median)
    ca=$(echo "${CPU[rubra $key]}" | median); cb=$(echo "${CPU[redis $key]}" | median)
    la=$(echo "${P99[rubra $key]}" | median); lb=$(echo "${P99[redis $key]}" | median)
    ba=$(echo "${BUSY[rubra $key]}" | median); bb=$(echo "${BUSY[redis $key]}" | median)
    printf '%-16s %10.0f %10.0f %6s %5s | %9.3f %9.3f %6s | %7.3f %7.3f %6s | %4.2f %4.2f\n' "$key" "$a" "$b" "$(ratio "$a" "$b")" \
      "$(wins "${RPS[rubra $key]}" "${RPS[redis $key]}")/$ROUNDS" \
      "$ca" "$cb" "$(ratio "$ca" "$cb")" "$la" "$lb" "$(ratio "$la" "$lb")" "$ba" "$bb"
  done
done
echo "(cpu = server CPU seconds per million requests, for lrange_100 with its LPUSH fill;"
echo " ratios are rubra/redis; wins = rounds in"
echo " which rubra served more requests per second than redis-server right before or after it;"
echo " cli busy = redis-benchmark's CPU time / wall time against rubra, redis: near 1.00 the"
echo " client's core is the limit and rps compare the client, not the servers)"
fi

[ "$MEMORY" = 1 ] || exit 0

# gen NAME -> RESP commands for one dataset on stdout (python3 keeps it quick).
gen() {
  python3 - "$1" "$SCALE" <<'EOF'
import sys
name, scale = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*a):
    parts = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(parts)
buf = []
def emit(c):
    buf.append(c)
    if len(buf) >= 10000:
        out.write(b"".join(buf)); buf.clear()
n = {"strings": 1000000, "integers": 1000000, "ttl": 1000000, "hashes": 100000,
     "sets": 100000, "zsets": 100000, "lists": 10000}[name] // scale
for i in range(n):
    if name == "strings": emit(cmd("SET", f"key:{i}", f"value:{i}"))
    elif name == "integers": emit(cmd("SET", f"key:{i}", i))
    elif name == "ttl": emit(cmd("SET", f"key:{i}", f"value:{i}", "EX", 100000))
    elif name == "hashes":
        a = ["HSET", f"hash:{i}"]
        for f in range(10): a += [f"field:{f}", f"value:{i}:{f}"]
        emit(cmd(*a))
    elif name == "sets": emit(cmd("SADD", f"set:{i}", *[i * 10 + j for j in range(10)]))
    elif name == "zsets":
        a = ["ZADD", f"zset:{i}"]
        for j in range(10): a += [j * 1.5, f"member:{j}"]
        emit(cmd(*a))
    elif name == "lists": emit(cmd("RPUSH", f"list:{i}", *[f"e:{j}" for j in range(100)]))
out.write(b"".join(buf))
print(n, file=sys.stderr)
EOF
}

echo
echo "memory per key (fresh server per dataset; RSS and used_memory growth / keys)"
printf '%-10s %8s | %9s %9s %6s | %9s %9s %6s\n' dataset keys "rubra rss" "redis rss" ratio "rubra use" "redis use" ratio
for ds in $DATASETS; do
  gen "$ds" >"$WORK/$ds.resp" 2>"$WORK/$ds.n"
  declare -A R U
  for who in rubra redis; do
    start "$who"
    p=$(port "$who")
    sleep 0.3
    r0=$(rss_kb "${PID[$who]}"); u0=$(used "$p")
    redis-cli -p "$p" --pipe <"$WORK/$ds.resp" >/dev/null
    sleep 0.5
    r1=$(rss_kb "${PID[$who]}"); u1=$(used "$p")
    keys=$(redis-cli -p "$p" dbsize)
    R[$who]=$(awk -v a="$r0" -v b="$r1" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) * 1024 / k }')
    U[$who]=$(awk -v a="$u0" -v b="$u1" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) / k }')
    stop "$who"
  done
  printf '%-10s %8s | %9s %9s %6s | %9s %9s %6s\n' "$ds" "$keys" "${R[rubra]}" "${R[redis]}" "$(ratio "${R[rubra]}" "${R[redis]}")" \
    "${U[rubra]}" "${U[redis]}" "$(ratio "${U[rubra]}" "${U[redis]}")"
  rm -f "$WORK/$ds.resp"
done
echo "(bytes per key; ratios are rubra/redis)"
