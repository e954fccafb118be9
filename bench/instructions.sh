#!/usr/bin/env bash
# User-space instructions per request, rubra-server vs redis-server, for any command line:
# each server runs under valgrind's callgrind with instrumentation off, gets the prefill and a
# warm-up, then counts only while redis-benchmark sends the measured requests. Instruction
# counts do not depend on what else the machine is doing, so this finds a command whose code
# path costs more than Redis's (the way the ZRANGE WITHSCORES and INCRBYFLOAT outliers of
# issue 17 were found) without a quiet box. System time is not counted: see compare.sh.
#
# Usage: bench/instructions.sh COMMAND [ARGS...]        e.g. bench/instructions.sh ZSCORE z m
# Env:   P=16 (pipeline), N=10000 (requests measured), C=50 (clients; C=1 makes every
#        request a wake-up of the server, so the count includes the sleep/wake path),
#        PREFILL="ZADD z 1 m" (commands run
#        once before, one per line), KEEP=dir keeps the callgrind files there (for
#        callgrind_annotate), and bench/lib.sh's RUBRA_BIN.
# Needs: valgrind, redis-server, redis-benchmark, redis-cli.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n '2,16p' "$0"; exit 1; }
P=${P:-16}
N=${N:-10000}
C=${C:-50}
PREFILL=${PREFILL:-}
RUBRA_PORT=${RUBRA_PORT:-17679}
REDIS_PORT=${REDIS_PORT:-17680}
PIN=0
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools valgrind callgrind_control redis-server redis-benchmark redis-cli
build_rubra
make_workdir

# count WHO CMD...: prints instructions per request of WHO for the command line.
count() {
  local who=$1 port out pid
  shift
  port=$(port "$who")
  out="$WORK/$who.cg"
  local grind=(valgrind --tool=callgrind --instr-atstart=no "--callgrind-out-file=$out")
  if [ "$who" = rubra ]; then
    "${grind[@]}" "$RUBRA_BIN" --port "$port" --save "" --dir "$WORK" >/dev/null 2>&1 &
  else
    "${grind[@]}" redis-server --port "$port" --save "" --appendonly no --dir "$WORK" >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
  [ -z "$PREFILL" ] || printf '%s\n' "$PREFILL" | redis-cli -p "$port" >/dev/null
  redis-benchmark -p "$port" -c "$C" -n 2000 -P "$P" "$@" >/dev/null 2>&1
  callgrind_control -i on "$pid" >/dev/null 2>&1
  redis-benchmark -p "$port" -c "$C" -n "$N" -P "$P" "$@" >/dev/null 2>&1
  callgrind_control -i off "$pid" >/dev/null 2>&1
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  [ -z "${KEEP:-}" ] || cp "$out"* "$KEEP"/
  awk -v n="$N" '/^(summary|totals):/ { s += $2 } END { printf "%d", s / n }' "$out"*
}

a=$(count rubra "$@")
b=$(count redis "$@")
printf '%-40s rubra %8d  redis %8d  ratio %s  (instructions/request, -P %s, -c %s)\n' "$*" "$a" "$b" "$(ratio "$a" "$b")" "$P" "$C"
