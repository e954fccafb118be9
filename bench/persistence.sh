#!/usr/bin/env bash
# Persistence and replication cost, Rubra vs Debian's redis-server on this machine:
# SAVE time and dump.rdb size for N keys (DEBUG POPULATE), start-up load time, and the
# time a fresh replica needs for a full sync of the same dataset. Prints each pair and
# the ratio Rubra/Redis (lower is better for times and sizes).
#
# Usage: bench/persistence.sh [keys (default 1000000)]
# Needs: redis-server, redis-cli (apt-get install -y redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${1:-1000000}
BASE=${BASE_PORT:-18400}
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
cargo build --release --quiet --bin rubra-server
WORK=$(mktemp -d)
PORTS=()
cleanup() {
  for p in "${PORTS[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
wait_up() { for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "port $1 did not start" >&2; exit 1; }

start() { # name port dir
  local name=$1 port=$2 dir=$3
  mkdir -p "$dir"
  if [ "$name" = rubra ]; then
    ./target/release/rubra-server --port "$port" --save "" --enable-debug-command yes --dir "$dir" >"$dir/log" 2>&1 &
  else
    redis-server --port "$port" --save "" --enable-debug-command yes --appendonly no --dir "$dir" --daemonize no >"$dir/log" 2>&1 &
  fi
  PORTS+=("$port")
  wait_up "$port"
}

declare -A SAVE_MS SIZE LOAD_MS SYNC_MS
i=0
for name in rubra redis; do
  p=$((BASE + i * 10)); r=$((p + 1)); i=$((i + 1))
  start "$name" "$p" "$WORK/$name"
  redis-cli -p "$p" debug populate "$KEYS" key 100 >/dev/null
  t0=$(now_ms); redis-cli -p "$p" save >/dev/null; t1=$(now_ms)
  SAVE_MS[$name]=$((t1 - t0))
  SIZE[$name]=$(stat -c %s "$WORK/$name/dump.rdb")
  # Full sync of a fresh replica.
  start "$name" "$r" "$WORK/$name-replica"
  t0=$(now_ms)
  redis-cli -p "$r" replicaof 127.0.0.1 "$p" >/dev/null
  while :; do
    st=$(redis-cli -p "$r" info replication | tr -d '\r' | sed -n 's/^master_link_status://p')
    n=$(redis-cli -p "$r" dbsize)
    [ "$st" = up ] && [ "$n" = "$KEYS" ] && break
    sleep 0.02
  done
  t1=$(now_ms)
  SYNC_MS[$name]=$((t1 - t0))
  # Start-up load of the saved file.
  redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  sleep 0.2
  t0=$(now_ms)
  start "$name" "$p" "$WORK/$name"
  while [ "$(redis-cli -p "$p" dbsize 2>/dev/null)" != "$KEYS" ]; do sleep 0.01; done
  t1=$(now_ms)
  LOAD_MS[$name]=$((t1 - t0))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf "%-28s %14s %14s %8s\n" "$KEYS keys (DEBUG POPULATE)" rubra redis-server ratio
printf "%-28s %14s %14s %8s\n" "SAVE (ms)" "${SAVE_MS[rubra]}" "${SAVE_MS[redis]}" "$(ratio "${SAVE_MS[rubra]}" "${SAVE_MS[redis]}")"
printf "%-28s %14s %14s %8s\n" "dump.rdb (bytes)" "${SIZE[rubra]}" "${SIZE[redis]}" "$(ratio "${SIZE[rubra]}" "${SIZE[redis]}")"
printf "%-28s %14s %14s %8s\n" "load at start-up (ms)" "${LOAD_MS[rubra]}" "${LOAD_MS[redis]}" "$(ratio "${LOAD_MS[rubra]}" "${LOAD_MS[redis]}")"
printf "%-28s %14s %14s %8s\n" "replica full sync (ms)" "${SYNC_MS[rubra]}" "${SYNC_MS[redis]}" "$(ratio "${SYNC_MS[rubra]}" "${SYNC_MS[redis]}")"
