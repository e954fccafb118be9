# Shared start-up for the side-by-side benchmarks (source it from bench/*.sh after
# `cd` to the repository root): tool checks, the release build, CPU pinning, a work
# directory cleaned up on exit, starting/stopping rubra-server and redis-server on their
# ports, per-process CPU ticks, and the median/ratio helpers the tables use.
#
# Callers set RUBRA_PORT and REDIS_PORT before sourcing (defaults 17379/17380).
# Env:   PIN=1 (default when 2+ CPUs) pins each server to CPU 1 and the client to CPU 0;
#        RUBRA_BIN=path benchmarks another rubra-server build instead of building one.

RUBRA_PORT=${RUBRA_PORT:-17379}
REDIS_PORT=${REDIS_PORT:-17380}
if [ -z "${PIN:-}" ]; then PIN=0; [ "$(nproc)" -ge 2 ] && PIN=1; fi
SRV_CPU=""; CLI_CPU=""
if [ "$PIN" = 1 ]; then SRV_CPU="taskset -c 1"; CLI_CPU="taskset -c 0"; fi
HZ=$(getconf CLK_TCK)

# need_tools TOOL... : exits with a hint if one is missing.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
  done
}

# build_rubra: sets RUBRA_BIN, building the release binary unless RUBRA_BIN is given.
build_rubra() {
  if [ -z "${RUBRA_BIN:-}" ]; then
    cargo build --release --quiet --bin rubra-server
    RUBRA_BIN=./target/release/rubra-server
  fi
}

# make_workdir: WORK, removed (and both servers shut down) when the script exits.
make_workdir() {
  WORK=$(mktemp -d)
  trap bench_cleanup EXIT
}
bench_cleanup() {
  redis-cli -p "$RUBRA_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

declare -A PID
# port WHO: the port of rubra or redis.
port() { if [ "$1" = rubra ]; then echo "$RUBRA_PORT"; else echo "$REDIS_PORT"; fi; }
# start WHO [ARGS...]: starts rubra or redis (pinned, no persistence), waits for PING.
start() {
  local who=$1; shift
  if [ "$who" = rubra ]; then
    $SRV_CPU "$RUBRA_BIN" --port "$RUBRA_PORT" --save "" --dir "$WORK" "$@" >"$WORK/rubra.log" 2>&1 &
  else
    $SRV_CPU redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --daemonize no "$@" >"$WORK/redis.log" 2>&1 &
  fi
  PID[$who]=$!
  for _ in $(seq 100); do redis-cli -p "$(port "$who")" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$who did not start" >&2; exit 1
}
# stop WHO: shuts the server down and waits for it.
stop() { redis-cli -p "$(port "$1")" shutdown nosave >/dev/null 2>&1 || true; wait "${PID[$1]}" 2>/dev/null || true; }
# ticks PID: CPU ticks (user + system) of a process.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# median: of the numbers on stdin (space or newline separated).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# cpu_per_mreq TICKS N: server CPU seconds per million requests.
cpu_per_mreq() { awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.4f", d / hz / n * 1e6 }'; }

# each_run FN: the rounds of a side-by-side table. For every pipeline of PIPELINES, round
# of ROUNDS and test of TESTS, calls `FN WHO PIPELINE TEST ROUND N` for rubra and redis,
# alternating which goes first (neither always gets the warmer machine). N is the request
# count: N, times PIPELINED_SCALE (default 4) when pipelined, as those runs are ~10x faster
# and more requests keep their CPU figure (10 ms ticks) precise.
each_run() {
  local fn=$1 pipeline round test who order n
  for pipeline in $PIPELINES; do
    n=$N; [ "$pipeline" -gt 1 ] && n=$((N * ${PIPELINED_SCALE:-4}))
    for round in $(seq "$ROUNDS"); do
      if (( round % 2 )); then order="rubra redis"; else order="redis rubra"; fi
      for test in ${TESTS//,/ }; do
        for who in $order; do "$fn" "$who" "$pipeline" "$test" "$round" "$n"; done
      done
    done
  done
}
# csv_field LINE K: the K-th field of a redis-benchmark CSV row
# ("test","rps","avg","min","p50","p95","p99","max": 2 is rps, 7 is p99).
csv_field() { echo "$1" | awk -F'","' -v k="$2" '{ print $k }'; }
