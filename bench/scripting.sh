#!/usr/bin/env bash
# EVALSHA of a small script (GET + INCR on one key) with redis-benchmark: Rubra vs Debian's
# redis-server side by side, each server pinned to CPU 0 and the benchmark to CPU 1
# (taskset), run alternately; prints requests/s for each and the ratio Rubra/Redis.
#
# Usage: bench/scripting.sh [requests (default 200000)] [rounds (default 3)]
# Needs: redis-server, redis-benchmark, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
RUBRA_PORT=${RUBRA_PORT:-17479}
REDIS_PORT=${REDIS_PORT:-17480}
SCRIPT="local v = redis.call('GET', KEYS[1]) redis.call('INCR', KEYS[1]) return v"

for tool in redis-server redis-benchmark redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

cargo build --release --quiet --bin rubra-server
WORK=$(mktemp -d)
cleanup() {
  redis-cli -p "$RUBRA_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

taskset -c 0 ./target/release/rubra-server --port "$RUBRA_PORT" --save "" --dir "$WORK" >"$WORK/rubra.log" 2>&1 &
taskset -c 0 redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --daemonize no >"$WORK/redis.log" 2>&1 &
for port in "$RUBRA_PORT" "$REDIS_PORT"; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# bench PORT PIPELINE -> requests per second
bench() {
  local sha
  sha=$(redis-cli -p "$1" script load "$SCRIPT")
  taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$N" -P "$2" -r 100000 --csv \
    EVALSHA "$sha" 1 "key:__rand_int__" 2>/dev/null | tail -1 | awk -F'","' '{ gsub(/"/, "", $2); print $2 }'
}

for pipeline in 1 16; do
  rubra_total=0; redis_total=0
  for round in $(seq "$ROUNDS"); do
    if (( round % 2 )); then order="rubra redis"; else order="redis rubra"; fi
    for who in $order; do
      port=$RUBRA_PORT; [ "$who" = redis ] && port=$REDIS_PORT
      redis-cli -p "$port" flushall >/dev/null
      rps=$(bench "$port" "$pipeline")
      if [ "$who" = rubra ]; then rubra_total=$(echo "$rubra_total + $rps" | bc); else redis_total=$(echo "$redis_total + $rps" | bc); fi
    done
  done
  rubra=$(echo "$rubra_total / $ROUNDS" | bc); redis=$(echo "$redis_total / $ROUNDS" | bc)
  printf "EVALSHA GET+INCR P%-3s rubra %10s rps   redis %10s rps   ratio %s\n" \
    "$pipeline" "$rubra" "$redis" "$(echo "scale=2; $rubra / $redis" | bc)"
done
