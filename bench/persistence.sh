#!/usr/bin/env bash
# Persistence and replication cost, Rubra vs Debian's redis-server on this machine, for three
# datasets (N keys `key:%012d` with "value:N" strings, 32-byte values and 1 KB values of
# word-like text that LZF compresses about 2x):
#   - SAVE time and dump size;
#   - RSS growth while a BGSAVE runs under read-only traffic (redis-benchmark GET on random
#     existing keys); for Redis the fork child's private dirty pages are added, since that
#     is the memory its snapshot costs;
#   - full-sync time: REPLICAOF on a fresh replica until master_link_status:up with all keys
#     (Redis with repl-diskless-sync-delay 0, so neither side waits for more replicas);
#   - start-up load time: process start until DBSIZE answers with all keys.
# Prints each pair and the ratio Rubra/Redis (lower is better).
#
# Usage: bench/persistence.sh [keys (default 1000000)] [keys for the 1 KB set (default: keys,
#        or 300000 when less than 8 GB is available)]
# Env:   SIZES="0 32 1024" (0 = "value:N"), PARTS="save bgsave sync load" (a subset runs
#        only those measurements; the others print as "-"), and bench/lib.sh's PIN /
#        RUBRA_BIN. The masters
#        run on CPU 1, the client and the replica on CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."

RUBRA_PORT=${RUBRA_PORT:-18400}
REDIS_PORT=${REDIS_PORT:-18410}
REPLICA_PORT=$((RUBRA_PORT + 100))
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools redis-server redis-cli redis-benchmark python3
build_rubra
make_workdir

KEYS=${1:-1000000}
avail_mb=$(free -m | awk '/^Mem:/ { print $7 }')
BIG_KEYS=${2:-$([ "$avail_mb" -ge 8000 ] && echo "$KEYS" || echo 300000)}
SIZES=${SIZES:-"0 32 1024"}
PARTS=${PARTS:-"save bgsave sync load"}
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

now_ms() { date +%s%3N; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# mem_kb PID: RSS of the server plus the private dirty pages of its fork children.
mem_kb() {
  local total child
  total=$(rss_kb "$1")
  for child in $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^Private_Dirty:/ { s += $2 } END { print s + 0 }' "/proc/$child/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
info_field() { redis-cli -p "$1" info "$2" | tr -d '\r' | sed -n "s/^$3://p"; }

# gen N SIZE: RESP SET commands for the dataset, for redis-cli --pipe.
gen() {
  python3 - "$1" "$2" <<'EOF'
import random, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(7)
words = [b"alpha", b"beta", b"gamma", b"delta", b"user", b"id", b"name", b"value", b"true",
         b"false", b"null", b"2026", b"status", b"ok", b"items", b"count"]
text = b" ".join(rng.choice(words) + str(rng.randrange(1000)).encode() for _ in range(4096))
span = len(text) - size - 1
out = sys.stdout.buffer
chunk = []
for i in range(n):
    k = b"key:%012d" % i
    v = b"value:%d" % i if size == 0 else text[(i * 7919) % span:][:size]
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    if len(chunk) == 10000:
        out.write(b"".join(chunk)); chunk = []
out.write(b"".join(chunk))
EOF
}

start_master() { # WHO
  if [ "$1" = rubra ]; then
    start rubra --dbfilename rubra.rdb
  else
    start redis --dbfilename redis.rdb --repl-diskless-sync-delay 0
  fi
}

declare -A R
measure() { # WHO N SIZE
  local who=$1 n=$2 size=$3 p t0 t1
  p=$(port "$who")
  start_master "$who"
  gen "$n" "$size" | $CLI_CPU redis-cli -p "$p" --pipe >/dev/null
  [ "$(redis-cli -p "$p" dbsize)" = "$n" ] || { echo "$who: load failed" >&2; exit 1; }

  R[$who,save]=-; R[$who,size]=-; R[$who,rss]=-; R[$who,rssafter]=-; R[$who,sync]=-; R[$who,load]=-
  if has_part save || has_part load; then
    t0=$(now_ms); redis-cli -p "$p" save >/dev/null; t1=$(now_ms)
    R[$who,save]=$((t1 - t0))
    R[$who,size]=$(stat -c %s "$WORK/$who.rdb")
  fi

  has_part bgsave && measure_bgsave "$who" "$p" "$n"
  has_part sync && measure_sync "$who" "$p" "$n"

  # Start-up load of the saved file.
  stop "$who"
  if has_part load; then
    t0=$(now_ms)
    start_master "$who"
    until [ "$(redis-cli -p "$p" dbsize 2>/dev/null)" = "$n" ]; do sleep 0.01; done
    t1=$(now_ms)
    R[$who,load]=$((t1 - t0))
    stop "$who"
  fi
  rm -f "$WORK"/*.rdb
}

measure_bgsave() { # WHO PORT N: BGSAVE under read-only traffic.
  local who=$1 p=$2 n=$3 base peak m bench_pid
  $CLI_CPU redis-benchmark -p "$p" -c 50 -n 100000000 -r "$n" GET key:__rand_int__ >/dev/null 2>&1 &
  bench_pid=$!
  sleep 1
  base=$(mem_kb "${PID[$who]}"); peak=$base
  redis-cli -p "$p" bgsave >/dev/null
  sleep 0.05
  while [ "$(info_field "$p" persistence rdb_bgsave_in_progress)" = 1 ]; do
    m=$(mem_kb "${PID[$who]}"); [ "$m" -gt "$peak" ] && peak=$m
    sleep 0.05
  done
  kill "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true
  R[$who,rss]=$(awk -v a="$peak" -v b="$base" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
  R[$who,rssafter]=$(awk -v a="$(rss_kb "${PID[$who]}")" -v b="$base" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
}

measure_sync() { # WHO PORT N: full sync of a fresh replica (its own empty directory, on the client's CPU).
  local who=$1 p=$2 n=$3 t0 t1 rpid
  rm -rf "$WORK/replica-$who"; mkdir -p "$WORK/replica-$who"
  if [ "$who" = rubra ]; then
    $CLI_CPU "$RUBRA_BIN" --port "$REPLICA_PORT" --save "" --dir "$WORK/replica-$who" >"$WORK/replica.log" 2>&1 &
  else
    $CLI_CPU redis-server --port "$REPLICA_PORT" --save "" --appendonly no --dir "$WORK/replica-$who" --daemonize no >"$WORK/replica.log" 2>&1 &
  fi
  rpid=$!
  for _ in $(seq 100); do redis-cli -p "$REPLICA_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  t0=$(now_ms)
  redis-cli -p "$REPLICA_PORT" replicaof 127.0.0.1 "$p" >/dev/null
  until [ "$(info_field "$REPLICA_PORT" replication master_link_status)" = up ] &&
    [ "$(redis-cli -p "$REPLICA_PORT" dbsize)" = "$n" ]; do sleep 0.01; done
  t1=$(now_ms)
  R[$who,sync]=$((t1 - t0))
  redis-cli -p "$REPLICA_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$rpid" 2>/dev/null || true
  # KEEP_LOGS=DIR keeps both sides' logs of each sync (where the seconds went).
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS"
    cp "$WORK/replica.log" "$KEEP_LOGS/replica-$who-$n.log"
    cp "$WORK/$who.log" "$KEEP_LOGS/primary-$who-$n.log"
  fi
}

row() { printf "%-30s %12s %12s %7s\n" "$@"; }
for size in $SIZES; do
  n=$KEYS; label="\"value:N\""
  [ "$size" != 0 ] && label="$size-byte values"
  [ "$size" -ge 1024 ] && n=$BIG_KEYS
  for who in rubra redis; do measure "$who" "$n" "$size"; done
  echo
  row "$n keys, $label" rubra redis ratio
  row "SAVE (ms)" "${R[rubra,save]}" "${R[redis,save]}" "$(ratio "${R[rubra,save]}" "${R[redis,save]}")"
  row "dump size (bytes)" "${R[rubra,size]}" "${R[redis,size]}" "$(ratio "${R[rubra,size]}" "${R[redis,size]}")"
  row "load at start-up (ms)" "${R[rubra,load]}" "${R[redis,load]}" "$(ratio "${R[rubra,load]}" "${R[redis,load]}")"
  row "replica full sync (ms)" "${R[rubra,sync]}" "${R[redis,sync]}" "$(ratio "${R[rubra,sync]}" "${R[redis,sync]}")"
  row "BGSAVE+GETs peak mem (+%)" "${R[rubra,rss]}" "${R[redis,rss]}" ""
  row "  RSS after BGSAVE (+%)" "${R[rubra,rssafter]}" "${R[redis,rssafter]}" ""
done
