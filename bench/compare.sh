#!/usr/bin/env bash
# Rubra vs Debian's redis-server, side by side on this machine, same redis-benchmark
# workloads, run alternately; prints requests/s for each and the ratio Rubra/Redis, then
# memory per key after loading 1M small keys (DEBUG POPULATE on both).
#
# Usage: bench/compare.sh [requests-per-test (default 200000)] [rounds (default 3)]
# Needs: redis-server, redis-benchmark, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
TESTS=${TESTS:-set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset}
RUBRA_PORT=${RUBRA_PORT:-17379}
REDIS_PORT=${REDIS_PORT:-17380}

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

cargo build --release --quiet --bin rubra-server
WORK=$(mktemp -d)
cleanup() {
  redis-cli -p "$RUBRA_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_servers() {
  ./target/release/rubra-server --port "$RUBRA_PORT" --save "" --dir "$WORK" >"$WORK/rubra.log" 2>&1 &
  redis-server --port "$REDIS_PORT" --save "" --appendonly no --enable-debug-command yes --dir "$WORK" --daemonize no >"$WORK/redis.log" 2>&1 &
  for port in "$RUBRA_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

stop_servers() {
  redis-cli -p "$RUBRA_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  sleep 0.5
}

# bench PORT PIPELINE -> lines "test rps"
bench() {
  redis-benchmark -p "$1" -c 50 -n "$N" -P "$2" -t "$TESTS" --csv -q 2>/dev/null \
    | awk -F'","' 'NR>1 { gsub(/"/, "", $1); gsub(/"/, "", $2); gsub(/ /, "_", $1); print $1, $2 }'
}

start_servers
declare -A RUBRA REDIS
for pipeline in 1 16; do
  for round in $(seq "$ROUNDS"); do
    # Alternate which server goes first, so neither always gets the warmer machine.
    if (( round % 2 )); then order="rubra redis"; else order="redis rubra"; fi
    for who in $order; do
      port=$RUBRA_PORT; [ "$who" = redis ] && port=$REDIS_PORT
      redis-cli -p "$port" flushall >/dev/null
      while read -r test rps; do
        key="P$pipeline $test"
        if [ "$who" = rubra ]; then RUBRA[$key]="${RUBRA[$key]:-} $rps"; else REDIS[$key]="${REDIS[$key]:-} $rps"; fi
      done < <(bench "$port" "$pipeline")
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '\n%-22s %14s %14s %8s\n' "workload (-c 50)" "rubra rps" "redis rps" "ratio"
printf '%s\n' "${!RUBRA[@]}" | sort | while read -r p t; do
  key="$p $t"
  a=$(echo "${RUBRA[$key]}" | median); b=$(echo "${REDIS[$key]:-0}" | median)
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%-22s %14.0f %14.0f %8s\n' "$key" "$a" "$b" "$ratio"
done

echo
echo "memory per key after DEBUG POPULATE 1000000 (key:N -> value:N):"
for who in rubra redis; do
  port=$RUBRA_PORT; [ "$who" = redis ] && port=$REDIS_PORT
  redis-cli -p "$port" flushall >/dev/null
  sleep 1
  before=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
  rss_before=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory_rss:/ {print $2}')
  redis-cli -p "$port" debug populate 1000000 >/dev/null
  after=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
  rss_after=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory_rss:/ {print $2}')
  keys=$(redis-cli -p "$port" dbsize)
  awk -v w="$who" -v k="$keys" -v u=$((after - before)) -v r=$((rss_after - rss_before)) \
    'BEGIN { printf "%-6s keys=%d used_memory/key=%.1f B  rss/key=%.1f B\n", w, k, u / k, r / k }'
done
stop_servers
