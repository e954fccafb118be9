#!/usr/bin/env bash
# Runs redis 7.0.15's own TCL *integration* units (tests/integration/*.tcl: replication,
# PSYNC, AOF, RDB, SHUTDOWN, failover, redis-cli ...) in the suite's normal mode, where the
# harness starts its own servers, against rubra-server, and optionally the same units
# against Debian's redis-server for comparison. A finder, not a CI test: the suite is not
# ours and is not vendored here; each difference it shows gets our own differential test.
#
# How: the harness runs `src/redis-server CONFIGFILE` from the tree it is started in and
# reads that process's stdout for a line containing " PID: <pid>" (Redis's start-up logo,
# printed once its port is bound; a "Failed listening on port" line instead makes it retry
# another port) and then "Ready to accept". This script makes a private copy of the tree (WORK, so the
# shared REDIS_SRC is never changed) and puts there:
#   src/redis-server   rubra: a shell wrapper that execs rubra-server (same process, so
#                      the PID in its "Listening, PID: <pid>" line matches; its log, written
#                      to stderr, is sent to stdout where the harness reads it);
#                      redis: a symlink to /usr/bin/redis-server
#   src/redis-cli, src/redis-benchmark, src/redis-check-aof, src/redis-check-rdb
#                      symlinks to Debian's tools (the units call them by these paths)
#
# Usage: REDIS_SRC=/path/to/redis-7.0.15 tools/redis-suite-integration.sh rubra|redis OUTDIR [UNIT...]
#        e.g. tools/redis-suite-integration.sh rubra /tmp/int integration/replication-3
#        (no UNIT: every integration/*.tcl)
# Env:   REDIS_SRC  a redis 7.0.15 source tree (its tests/ and runtest; needs tclsh 8.6)
#        RUBRA_BIN  the server to test (default target/release/rubra-server)
#        WORK       where the private copy goes (default /tmp/redis-src-integration-<who>)
#        BASE       the first of 500 ports the harness may use (default: random 39000-44500)
#        TIMEOUT    seconds per unit before it is killed (default 1200)
# Output: OUTDIR/<unit>.log per unit, and OUTDIR/summary with one line per unit
#        (runtest's exit code, [ok] and [err]/exception counts).
set -uo pipefail
cd "$(dirname "$0")/.."
who=${1:?rubra or redis}
out=$(realpath -m "${2:?output directory}")
shift 2
: "${REDIS_SRC:?set REDIS_SRC to a redis 7.0.15 source tree}"
RUBRA_BIN=$(realpath "${RUBRA_BIN:-target/release/rubra-server}")
WORK=${WORK:-/tmp/redis-src-integration-$who}
BASE=${BASE:-$((39000 + RANDOM % 5500))}
TIMEOUT=${TIMEOUT:-1200}
mkdir -p "$out"

# The private copy: the tree once, the wrappers every time (RUBRA_BIN may change).
[ -d "$WORK/tests" ] || cp -a "$REDIS_SRC" "$WORK" || exit 1
mkdir -p "$WORK/src"
rm -f "$WORK/src/redis-server"
if [ "$who" = rubra ]; then
  cat >"$WORK/src/redis-server" <<EOF
#!/bin/sh
exec "$RUBRA_BIN" "\$@" 2>&1
EOF
  chmod +x "$WORK/src/redis-server"
else
  ln -s /usr/bin/redis-server "$WORK/src/redis-server"
fi
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
  ln -sf "/usr/bin/$tool" "$WORK/src/$tool"
done

units=("$@")
[ ${#units[@]} -gt 0 ] || units=($(cd "$WORK/tests" && ls integration/*.tcl | sed 's/\.tcl$//'))
for u in "${units[@]}"; do
  log="$out/${u//\//_}.log"
  (cd "$WORK" && exec timeout -k 10 "$TIMEOUT" ./runtest --single "$u" --clients 1 --timeout 120 \
    --baseport "$BASE" --portcount 500) >"$log" 2>&1
  rc=$?
  # The failures are listed twice (as they happen and in the final list starting "***").
  ok=$(grep -av '^\*\*\*' "$log" | grep -ac 'mok\b\|\[ok\]')
  err=$(grep -av '^\*\*\*' "$log" | grep -ac 'merr\b\|\[err\]\|TIMEOUT\|mexception\|\[exception\]')
  echo "$u rc=$rc ok=$ok err=$err" >>"$out/summary"
  # A unit killed by the timeout leaves its servers running: stop those whose working
  # directory is this copy or under it (a server moves into its `dir`, as redis-server
  # does; ours alone: this script runs elsewhere), each by its pid.
  for p in /proc/[0-9]*; do
    case "$(readlink "$p/cwd" 2>/dev/null)" in
      "$WORK" | "$WORK"/*) kill -9 "${p#/proc/}" 2>/dev/null ;;
    esac
  done
  rm -rf "$WORK/tests/tmp"/*
done
