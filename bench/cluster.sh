#!/usr/bin/env bash
# Cluster operations, rubra-server (release) vs Debian's redis-server, on this machine,
# driven by the same redis-cli:
#   (a) failover time: a 6-node cluster (3 primaries + 3 replicas, cluster-node-timeout
#       $NODE_TIMEOUT, default 2000); kill -9 the primary owning a key's slot and time until a write to that key
#       (redis-cli -c through a surviving node) is accepted again. RUNS runs per server:
#       after each, the killed node restarts from its nodes.conf and rejoins as a replica,
#       and the next run kills the key's new primary. Prints each run, median and max.
#   (b) reshard speed: a 3-primary cluster; KEYS keys (SET, ~40 bytes) spread over all the
#       slots of one primary; time `redis-cli --cluster reshard` of all those slots to
#       another primary; prints keys/s for each server and the ratio rubra/redis.
#   (c) atomic migration (rubra only): the same cluster and keys, moved with one
#       CLUSTER MIGRATESLOTS SLOTSRANGE lo hi NODE id; time until GETSLOTMIGRATIONS says
#       success; prints keys/s, MB/s, the longest write pause the source reports, and the
#       ratio to `redis-cli --cluster reshard` on rubra (part b's number if it ran).
#       With LOAD=1 (default) a pipelined redis-benchmark writes to the source's slots
#       meanwhile (SET of hash-tagged keys that live in the moving slots).
#   (d) big values: BIG_KEYS (default 65536) values of BIG_VALUE bytes (default 16384: ~1 GB)
#       over all slots of one primary, moved to another with CLUSTER MIGRATESLOTS (rubra)
#       and with `redis-cli --cluster reshard` (rubra and redis-server). Meanwhile a cluster
#       client (redis-py's RedisCluster, following MOVED/ASK/TRYAGAIN) writes one key at a
#       time to 64 of the moving slots; each path prints keys/s, MB/s, the longest write
#       of that client (the longest write pause a client saw) and its errors, and the CPU
#       the source and target nodes used (steadier than wall time on a shared box); the
#       atomic path also prints the pause the source reports.
#
# Usage: bench/cluster.sh [runs (default 10)] [keys (default 200000)]
#   NODE_TIMEOUT=5000 bench/cluster.sh ...   cluster-node-timeout for (a) (default 2000)
#   PARTS=failover bench/cluster.sh ...      only (a); PARTS=reshard only (b);
#   PARTS=reshard,migrate: (b) and (c)      PARTS=migrate only (c) (runs the rubra reshard too)
#   PARTS=big only (d); the default runs (a), (b), (c) and (d)
#   BIG_KEYS=16384 BIG_VALUE=16384 bench/cluster.sh ...   a smaller (d)
#   BIG_PATHS=atomic PARTS=big bench/cluster.sh 1   only (d)'s atomic path (for iterating on it;
#     the table then shows "-" for the legacy runs)
# Needs: redis-server, redis-cli (apt-get install -y redis-server redis-tools); (d) needs
# python3 with the redis package (apt-get install -y python3-redis).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
KEYS=${2:-200000}
BASE=${BASE:-17400} # ports BASE..BASE+5 (and +10000 for the bus); both servers take turns
NODE_TIMEOUT=${NODE_TIMEOUT:-2000}
PARTS=${PARTS:-failover,reshard,migrate,big}
BIG_KEYS=${BIG_KEYS:-65536}
BIG_VALUE=${BIG_VALUE:-16384}
BIG_PATHS=${BIG_PATHS:-atomic,rubra-reshard,redis-reshard}

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

# RUBRA_BIN=path runs that binary instead of building target/release/rubra-server.
if [ -z "${RUBRA_BIN:-}" ]; then
  cargo build --release --quiet --bin rubra-server
  RUBRA_BIN=$PWD/target/release/rubra-server
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# start_node KIND PORT: starts one cluster node; its pid goes to $WORK/nodes/KIND-PORT/pid.
start_node() {
  local kind=$1 port=$2 dir=$WORK/nodes/$1-$2 bin
  mkdir -p "$dir"
  if [ "$kind" = rubra ]; then bin=$RUBRA_BIN; else bin=redis-server; fi
  "$bin" --port "$port" --cluster-enabled yes --cluster-node-timeout "$NODE_TIMEOUT" \
    --save "" --appendonly no --dir "$dir" --daemonize no >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  PIDS+=("$!")
  disown "$!" # no "Killed" job notices when we kill -9 it
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$kind node on port $port did not start" >&2
  exit 1
}

stop_nodes() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  # A node holding a GB takes a while to exit on a busy box; its port with it.
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  PIDS=()
  sleep 0.5
  rm -rf "${WORK:?}/nodes"
}

state() { redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: '/^cluster_state:/ {print $2}'; }

# wait_ok PORT...: until every node reports cluster_state:ok (60 s at most).
wait_ok() {
  for _ in $(seq 600); do
    local all=1
    for p in "$@"; do [ "$(state "$p")" = ok ] || { all=0; break; }; done
    [ $all = 1 ] && return 0
    sleep 0.1
  done
  echo "cluster not ok on ports $*" >&2
  exit 1
}

# make_cluster KIND N REPLICAS: nodes on BASE..BASE+N-1 joined by redis-cli --cluster create.
make_cluster() {
  local kind=$1 n=$2 replicas=$3 addrs=() ports=()
  for i in $(seq 0 $((n - 1))); do
    start_node "$kind" $((BASE + i))
    addrs+=("127.0.0.1:$((BASE + i))"); ports+=($((BASE + i)))
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$WORK/create-$kind.log" 2>&1 \
    || { cat "$WORK/create-$kind.log" >&2; exit 1; }
  wait_ok "${ports[@]}"
}

# owner_port PORT SLOT: port of the (non-failed) primary serving SLOT, as node PORT sees it.
owner_port() {
  redis-cli -p "$1" cluster nodes | tr -d '\r' | awk -v s="$2" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        n = split($i, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1])
        if (s >= lo + 0 && s <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
      }
    }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# failover KIND: prints one line per run, then median and max (ms); result in FO_KIND file.
failover() {
  local kind=$1 key=bench:failover slot times=()
  make_cluster "$kind" 6 1
  slot=$(redis-cli -p "$BASE" cluster keyslot "$key")
  redis-cli -c -p "$BASE" set "$key" 0 >/dev/null
  for run in $(seq "$RUNS"); do
    local victim survivor pid t0 t1 ms ports=()
    for i in 0 1 2 3 4 5; do ports+=($((BASE + i))); done
    victim=$(owner_port "$BASE" "$slot")
    [ -n "$victim" ] || victim=$(owner_port $((BASE + 1)) "$slot")
    survivor=$BASE; [ "$survivor" = "$victim" ] && survivor=$((BASE + 1))
    # The replica must have everything, or the run measures a resync, not a failover.
    redis-cli -p "$victim" wait 1 5000 >/dev/null
    pid=$(cat "$WORK/nodes/$kind-$victim/pid")
    t0=$(now_ms)
    kill -9 "$pid"
    while :; do
      out=$(timeout 2 redis-cli -c -p "$survivor" set "$key" "$run" 2>/dev/null || true)
      [ "$out" = OK ] && break
      if (( $(now_ms) - t0 > 60000 )); then echo "$kind run $run: no failover within 60 s" >&2; exit 1; fi
      sleep 0.02
    done
    t1=$(now_ms)
    ms=$((t1 - t0))
    times+=("$ms")
    printf '%-6s run %2d: killed primary :%s, writes accepted again after %5d ms\n' "$kind" "$run" "$victim" "$ms"
    # Bring the killed node back (it rejoins as a replica of the new primary) and wait for
    # a clean cluster with the replica linked before the next run.
    start_node "$kind" "$victim"
    wait_ok "${ports[@]}"
    for _ in $(seq 300); do
      redis-cli -p "$victim" info replication | tr -d '\r' | grep -q '^master_link_status:up' && break
      sleep 0.1
    done
  done
  stop_nodes
  local med max
  med=$(printf '%s\n' "${times[@]}" | median)
  max=$(printf '%s\n' "${times[@]}" | sort -g | tail -1)
  printf '%-6s failover over %d runs: median %s ms, max %s ms\n' "$kind" "$RUNS" "$med" "$max"
  echo "$med $max" >"$WORK/fo-$kind"
}

# tags_for_slots PORT LO HI: one hash tag per slot in LO..HI (as many as 200k candidates
# cover), from the server's own CLUSTER KEYSLOT, so no CRC16 is needed here.
tags_for_slots() {
  seq 0 199999 | awk '{print "CLUSTER KEYSLOT t" $1}' | redis-cli -p "$1" |
    awk -v lo="$2" -v hi="$3" '{ s = $1 + 0; if (s >= lo && s <= hi && !(s in seen)) { seen[s] = 1; print "t" (NR - 1) } }'
}

# populate KIND [VALUE_BYTES]: a 3-primary cluster with KEYS keys over all slots of the
# first primary (values of ~40 bytes, or VALUE_BYTES); sets src dst srcid dstid lo hi
# nslots tags.
populate() {
  local kind=$1 vsize=${2:-0}
  src=$BASE; dst=$((BASE + 1))
  make_cluster "$kind" 3 0
  srcid=$(redis-cli -p "$src" cluster myid)
  dstid=$(redis-cli -p "$dst" cluster myid)
  read -r lo hi < <(redis-cli -p "$src" cluster nodes | tr -d '\r' | awk '/myself/ { split($9, r, "-"); print r[1], r[2] }')
  nslots=$((hi - lo + 1))
  # The tags depend only on the slot range (redis-cli gives the first node 0-5460 for both).
  [ "$(cat "$WORK/tags-range" 2>/dev/null)" = "$lo $hi" ] || {
    tags_for_slots "$src" "$lo" "$hi" >"$WORK/tags"
    echo "$lo $hi" >"$WORK/tags-range"
  }
  tags=$(wc -l <"$WORK/tags")
  # KEYS SETs round-robin over the tags, as RESP, through redis-cli --pipe.
  awk -v n="$KEYS" -v vsize="$vsize" '{ t[NR - 1] = $1 } END {
      big = "v"; while (length(big) < vsize) big = big big; big = substr(big, 1, vsize)
      for (i = 0; i < n; i++) {
        k = "{" t[i % NR] "}:" i; v = vsize > 0 ? big : "value-" i "-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
      } }' "$WORK/tags" | redis-cli -p "$src" --pipe >/dev/null
  local have; have=$(redis-cli -p "$src" dbsize)
  [ "$have" = "$KEYS" ] || { echo "$kind: populated $have keys, wanted $KEYS" >&2; exit 1; }
}

# reshard KIND: prints keys moved, seconds, keys/s; result in $WORK/rs-KIND.
reshard() {
  local kind=$1 src dst srcid dstid lo hi nslots tags t0 t1 have
  populate "$kind"
  t0=$(now_ms)
  redis-cli --cluster reshard "127.0.0.1:$src" --cluster-from "$srcid" --cluster-to "$dstid" \
    --cluster-slots "$nslots" --cluster-yes >"$WORK/reshard-$kind.log" 2>&1 \
    || { tail -20 "$WORK/reshard-$kind.log" >&2; exit 1; }
  t1=$(now_ms)
  have=$(redis-cli -p "$dst" dbsize)
  [ "$have" = "$KEYS" ] || { echo "$kind: destination has $have keys after reshard, wanted $KEYS" >&2; tail -20 "$WORK/reshard-$kind.log" >&2; exit 1; }
  stop_nodes
  awk -v w="$kind" -v k="$KEYS" -v s="$nslots" -v t="$tags" -v ms=$((t1 - t0)) 'BEGIN {
    printf "%-6s reshard: %d keys in %d slots (%d with keys) moved in %.2f s = %.0f keys/s\n", w, k, s, t, ms / 1000, k * 1000 / ms }'
  awk -v k="$KEYS" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f\n", k * 1000 / ms }' >"$WORK/rs-$kind"
}

# field REC NAME: one field of a GETSLOTMIGRATIONS record printed one value per line.
field() { awk -v f="$2" 'prev == f { print; exit } { prev = $0 }' <<<"$1"; }

# migrate: CLUSTER MIGRATESLOTS of the same keys on rubra; result in $WORK/mg.
migrate() {
  local src dst srcid dstid lo hi nslots tags t0 t1 have rec state
  populate rubra
  local bench_pid=""
  if [ "${LOAD:-1}" = 1 ] && command -v redis-benchmark >/dev/null; then
    # One of the moving slots' tags: every write lands in a moving slot.
    redis-benchmark -p "$src" -n 100000000 -P 32 -c 4 -q \
      -r 100000 SET "{$(head -1 "$WORK/tags")}:load:__rand_int__" x >/dev/null 2>&1 &
    bench_pid=$!
    sleep 1
  fi
  t0=$(now_ms)
  [ "$(redis-cli -p "$src" cluster migrateslots slotsrange "$lo" "$hi" node "$dstid")" = OK ] \
    || { echo "MIGRATESLOTS refused" >&2; exit 1; }
  while :; do
    rec=$(redis-cli -p "$src" cluster getslotmigrations | tr -d '\r')
    state=$(field "$rec" state)
    [ "$state" = success ] && break
    case $state in failed|cancelled) echo "migration $state: $(field "$rec" message)" >&2; exit 1 ;; esac
    if (( $(now_ms) - t0 > 300000 )); then echo "migration did not finish in 300 s" >&2; exit 1; fi
    sleep 0.01
  done
  t1=$(now_ms)
  [ -n "$bench_pid" ] && { kill "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true; }
  have=$(redis-cli -p "$dst" dbsize)
  [ "$have" -ge "$KEYS" ] || { echo "migrate: destination has $have keys, wanted $KEYS" >&2; exit 1; }
  echo "       (destination holds $have keys: $KEYS moved + $((have - KEYS)) written by the load meanwhile)"
  stop_nodes
  local bytes pause; bytes=$(field "$rec" bytes); pause=$(field "$rec" write_pause_ms)
  awk -v k="$KEYS" -v s="$nslots" -v ms=$((t1 - t0)) -v b="$bytes" -v p="$pause" 'BEGIN {
    printf "rubra  migrateslots: %d keys in %d slots moved in %.2f s = %.0f keys/s, %.1f MB/s; write pause %d ms\n", k, s, ms / 1000, k * 1000 / ms, b / 1048576 / (ms / 1000), p }'
  awk -v k="$KEYS" -v ms=$((t1 - t0)) -v p="$pause" 'BEGIN { printf "%.0f %d\n", k * 1000 / ms, p }' >"$WORK/mg"
}

# probe_start PORT: a cluster client writing one key at a time to 64 of the moving slots
# (tags spread over the range) until probe_stop; it records its longest successful write.
probe_start() {
  rm -f "$WORK/probe.stop" "$WORK/probe.out"
  awk -v n="$(wc -l <"$WORK/tags")" 'NR % int(n / 64 + 1) == 1' "$WORK/tags" >"$WORK/probe.tags"
  python3 - "$1" "$WORK/probe.tags" "$WORK/probe.stop" "$WORK/probe.out" <<'PY' &
import os, sys, time
from redis.cluster import RedisCluster
port, tagfile, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tags = open(tagfile).read().split()
rc = RedisCluster(host="127.0.0.1", port=port)
worst, n, errors, i = 0.0, 0, 0, 0
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        rc.set("{%s}:probe:%d" % (tags[i % len(tags)], i % 4096), i)
        n += 1
        worst = max(worst, time.monotonic() - t)
    except Exception as e:
        errors += 1
        print("probe error:", e, file=sys.stderr)
    i += 1
open(out, "w").write("%d %d %d\n" % (worst * 1000, n, errors))
PY
  probe_pid=$!
  sleep 1
}
probe_stop() {
  touch "$WORK/probe.stop"
  wait "$probe_pid" || true
}

# cpu_ticks KIND PORT...: user+system clock ticks used so far by those nodes (on a shared
# box the CPU a move costs is steadier than its wall time).
cpu_ticks() {
  local kind=$1 total=0 port; shift
  for port in "$@"; do
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$(cat "$WORK/nodes/$kind-$port/pid")/stat") ))
  done
  echo "$total"
}

# minflt KIND PORT: minor page faults of that node so far (fresh memory faulting in).
minflt() { awk '{print $10}' "/proc/$(cat "$WORK/nodes/$1-$2/pid")/stat"; }

# big KIND PATH: BIG_KEYS values of BIG_VALUE bytes moved by PATH (atomic|reshard) with
# the probe writing; one line of results, also in $WORK/big-KIND-PATH.
big() {
  local kind=$1 path=$2 src dst srcid dstid lo hi nslots tags t0 t1 have rec state pause=- KEYS=$BIG_KEYS
  populate "$kind" "$BIG_VALUE"
  # The source gives away all its slots: with replica migration on (the default) it then
  # turns into a replica of the target and full-syncs the GB back, on every path, right
  # when the move ends, which the CPU figures below would partly include. Off: they count
  # the move alone.
  for p in "$src" "$dst"; do
    redis-cli -p "$p" config set cluster-allow-replica-migration no >/dev/null
  done
  probe_start "$src"
  local c0; c0=$(cpu_ticks "$kind" "$src" "$dst")
  local s0; s0=$(cpu_ticks "$kind" "$src")
  local f0; f0=$(minflt "$kind" "$dst")
  t0=$(now_ms)
  if [ "$path" = atomic ]; then
    [ "$(redis-cli -p "$src" cluster migrateslots slotsrange "$lo" "$hi" node "$dstid")" = OK ] \
      || { echo "MIGRATESLOTS refused" >&2; exit 1; }
    while :; do
      rec=$(redis-cli -p "$src" cluster getslotmigrations | tr -d '\r')
      prev=${state:-}; state=$(field "$rec" state)
      # BIG_TRACE=1: when each state was first seen, and the keys sent by then.
      [ "${BIG_TRACE:-0}" = 1 ] && [ "$state" != "$prev" ] \
        && echo "  +$(( $(now_ms) - t0 )) ms: $state (keys $(field "$rec" keys))" >&2
      [ "$state" = success ] && break
      case $state in failed|cancelled) echo "migration $state: $(field "$rec" message)" >&2; exit 1 ;; esac
      if (( $(now_ms) - t0 > 600000 )); then echo "migration did not finish in 600 s" >&2; exit 1; fi
      sleep 0.01
    done
    pause=$(field "$rec" write_pause_ms)
  else
    redis-cli --cluster reshard "127.0.0.1:$src" --cluster-from "$srcid" --cluster-to "$dstid" \
      --cluster-slots "$nslots" --cluster-yes >"$WORK/big-reshard-$kind.log" 2>&1 \
      || { tail -20 "$WORK/big-reshard-$kind.log" >&2; exit 1; }
  fi
  t1=$(now_ms)
  local cpu; cpu=$(( $(cpu_ticks "$kind" "$src" "$dst") - c0 ))
  local faults; faults=$(( $(minflt "$kind" "$dst") - f0 ))
  [ "${BIG_TRACE:-0}" = 1 ] && echo "  CPU ticks: source $(( $(cpu_ticks "$kind" "$src") - s0 )), target $(( cpu - $(cpu_ticks "$kind" "$src") + s0 ))" >&2
  probe_stop
  read -r worst writes errors <"$WORK/probe.out"
  have=$(redis-cli -p "$dst" dbsize)
  [ "$have" -ge "$KEYS" ] || { echo "$kind $path: destination has $have keys, wanted $KEYS" >&2; exit 1; }
  stop_nodes
  awk -v w="$kind" -v p="$path" -v k="$KEYS" -v vs="$BIG_VALUE" -v ms=$((t1 - t0)) -v sp="$pause" \
      -v wo="$worst" -v n="$writes" -v e="$errors" -v cpu="$cpu" -v f="$faults" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    mb = k * vs / 1048576
    printf "%-6s %-8s %d x %d B (%.0f MB) in %.2f s = %.0f keys/s, %.1f MB/s; longest client write %d ms (%d writes, %d errors); source pause %s ms; source+target CPU %.2f s; target page faults %d\n",
      w, p, k, vs, mb, ms / 1000, k * 1000 / ms, mb / (ms / 1000), wo, n, e, sp, cpu / hz, f
    printf "%.0f %.1f %d %s %d %.2f %d\n", k * 1000 / ms, mb / (ms / 1000), wo, sp, e, cpu / hz, f > ("'"$WORK"'/big-" w "-" p) }'
}

fo=0; rs=0; mg=0; bg=0
case ",$PARTS," in *,failover,*) fo=1 ;; esac
case ",$PARTS," in *,reshard,*) rs=1 ;; esac
case ",$PARTS," in *,migrate,*) mg=1 ;; esac
case ",$PARTS," in *,big,*) bg=1 ;; esac
if [ $fo = 1 ]; then
  echo "== (a) failover: kill -9 of a primary -> writes to its slots accepted again (node-timeout $NODE_TIMEOUT)"
  failover rubra
  failover redis
  echo
fi
if [ $rs = 1 ]; then
  echo "== (b) reshard: $KEYS keys, all slots of one primary to another (redis-cli --cluster reshard)"
  reshard rubra
  reshard redis
  echo
fi
if [ $mg = 1 ]; then
  echo "== (c) atomic migration: the same $KEYS keys with CLUSTER MIGRATESLOTS (rubra)"
  [ -f "$WORK/rs-rubra" ] || reshard rubra
  migrate
  echo
fi
if [ $bg = 1 ]; then
  echo "== (d) big values: $BIG_KEYS x $BIG_VALUE B, all slots of one primary to another, a cluster client writing meanwhile"
  # In a VM, the first touch of guest memory the host has never backed costs about twice an
  # ordinary page fault (measured here: 1.2 s/GB vs 0.6 s/GB), and it would land on whichever
  # path runs first. Touch 3x the data set once (capped at half of MemAvailable) so that every
  # path allocates from memory the host already backs.
  warm_mb=$(awk -v d=$((BIG_KEYS * BIG_VALUE / 1048576 * 3)) '/MemAvailable/ { a = int($2 / 2048); print (d < a ? d : a) }' /proc/meminfo)
  python3 -c "import sys; b = b'\x01' * (int(sys.argv[1]) << 20)" "$warm_mb"
  case ",$BIG_PATHS," in *,atomic,*) big rubra atomic ;; esac
  case ",$BIG_PATHS," in *,rubra-reshard,*) big rubra reshard ;; esac
  case ",$BIG_PATHS," in *,redis-reshard,*) big redis reshard ;; esac
  echo
fi
[ $((fo + rs + mg)) -gt 0 ] && printf '%-28s %12s %12s %8s\n' "" rubra redis ratio
if [ $fo = 1 ]; then
  read -r fr_med fr_max <"$WORK/fo-rubra"
  read -r fd_med fd_max <"$WORK/fo-redis"
  awk -v a="$fr_med" -v b="$fd_med" -v t="$NODE_TIMEOUT" 'BEGIN { printf "%-28s %12s %12s %8.2f\n", "failover median (ms) @" t, a, b, a / b }'
  awk -v a="$fr_max" -v b="$fd_max" -v t="$NODE_TIMEOUT" 'BEGIN { printf "%-28s %12s %12s %8.2f\n", "failover max (ms) @" t, a, b, a / b }'
fi
if [ $rs = 1 ]; then
  rr=$(cat "$WORK/rs-rubra"); rd=$(cat "$WORK/rs-redis")
  awk -v a="$rr" -v b="$rd" 'BEGIN { printf "%-28s %12s %12s %8.2f\n", "reshard (keys/s)", a, b, a / b }'
fi
if [ $mg = 1 ]; then
  read -r mk mp <"$WORK/mg"
  rr=$(cat "$WORK/rs-rubra")
  printf '%-28s %12s %12s %8s\n' "rubra keys/s" migrateslots reshard ratio
  awk -v a="$mk" -v b="$rr" 'BEGIN { printf "%-28s %12s %12s %8.2f\n", "migrateslots vs reshard", a, b, a / b }'
  printf '%-28s %12s\n' "longest write pause (ms)" "$mp"
fi
if [ $bg = 1 ]; then
  for f in big-rubra-atomic big-rubra-reshard big-redis-reshard; do
    [ -f "$WORK/$f" ] || echo "- - - - - -" >"$WORK/$f"
  done
  read -r ak am aw ap ae ac af <"$WORK/big-rubra-atomic"
  read -r rk rm rw _ re rc rf <"$WORK/big-rubra-reshard"
  read -r dk dm dw _ de dc df <"$WORK/big-redis-reshard"
  printf '%-28s %12s %12s %12s\n' "big values ($BIG_VALUE B)" "rubra atomic" "rubra legacy" "redis legacy"
  printf '%-28s %12s %12s %12s\n' "keys/s" "$ak" "$rk" "$dk"
  printf '%-28s %12s %12s %12s\n' "MB/s" "$am" "$rm" "$dm"
  printf '%-28s %12s %12s %12s\n' "longest client write (ms)" "$aw" "$rw" "$dw"
  printf '%-28s %12s %12s %12s\n' "client errors" "$ae" "$re" "$de"
  printf '%-28s %12s %12s %12s\n' "source+target CPU (s)" "$ac" "$rc" "$dc"
  printf '%-28s %12s %12s %12s\n' "target page faults" "$af" "$rf" "$df"
  printf '%-28s %12s\n' "source write pause (ms)" "$ap"
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
  printf '%-28s %12s %12s %12s\n' "atomic keys/s vs legacy" "$(ratio "$ak" "$rk")" "" "$(ratio "$ak" "$dk")"
  printf '%-28s %12s %12s %12s\n' "legacy CPU / atomic CPU" "$(ratio "$rc" "$ac")" "" "$(ratio "$dc" "$ac")"
fi
