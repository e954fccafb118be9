#!/usr/bin/env bash
# Runs redis 7.0.15's own TCL unit tests against rubra-server in the suite's external mode
# (`runtest --host --port`), a fresh server per unit, and optionally the same units against
# Debian's redis-server for comparison. A finding tool, not a CI test: the suite is not
# ours and is not vendored here; each difference it shows gets our own differential test.
#
# Usage: REDIS_SRC=/path/to/redis-7.0.15 tools/redis-suite.sh rubra|redis OUTDIR [UNIT...]
#        e.g. tools/redis-suite.sh rubra /tmp/suite unit/multi unit/type/list
#        (no UNIT: every unit/*.tcl and unit/type/*.tcl)
# Env:   REDIS_SRC  a redis 7.0.15 source tree (its tests/ and runtest; needs tclsh 8.6)
#        RUBRA_BIN  the server to test (default target/release/rubra-server)
#        PORT       the server's port (default 21500), BASE the first of 500 ports the
#                   harness may use (default 31000)
# Output: OUTDIR/unit_<name>.log per unit, and OUTDIR/summary with one line per unit
#        (runtest's exit code, [ok] and [err]/exception counts).
set -uo pipefail
cd "$(dirname "$0")/.."
who=${1:?rubra or redis}
out=$(realpath -m "${2:?output directory}")
shift 2
: "${REDIS_SRC:?set REDIS_SRC to a redis 7.0.15 source tree}"
RUBRA_BIN=$(realpath "${RUBRA_BIN:-target/release/rubra-server}")
PORT=${PORT:-21500}
BASE=${BASE:-31000}
mkdir -p "$out"
cd "$REDIS_SRC" || exit 1
units=("$@")
[ ${#units[@]} -gt 0 ] || units=($(cd tests && ls unit/*.tcl unit/type/*.tcl | sed 's/\.tcl$//'))
for u in "${units[@]}"; do
  dir=$(mktemp -d)
  if [ "$who" = rubra ]; then
    "$RUBRA_BIN" --port "$PORT" --save "" --enable-debug-command yes --dir "$dir" >"$dir/log" 2>&1 &
  else
    redis-server --port "$PORT" --save "" --appendonly no --enable-debug-command yes --dir "$dir" >"$dir/log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log="$out/${u//\//_}.log"
  timeout 900 ./runtest --host 127.0.0.1 --port "$PORT" --single "$u" --clients 1 \
    --timeout 120 --baseport "$BASE" --portcount 500 >"$log" 2>&1
  rc=$?
  ok=$(grep -c 'mok\b\|\[ok\]' "$log")
  err=$(grep -c 'merr\b\|\[err\]\|exception' "$log")
  echo "$u rc=$rc ok=$ok err=$err" >>"$out/summary"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$dir"
done
