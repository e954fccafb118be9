#!/usr/bin/env bash
# The throughput cost of TLS: redis-benchmark SET/GET over plain TCP and over TLS (client
# certificates verified, TLS 1.3 as negotiated by default), against rubra-server and Debian's
# redis-server (built with OpenSSL), each server pinned to one CPU and the benchmark to the
# other (bench/lib.sh), run alternately. Prints requests/s (median of the rounds), server CPU
# per million requests, and the ratios tls/plain per server and rubra/redis per mode.
#
# Usage: bench/tls.sh [requests (default 200000)] [rounds (default 3)]
# Env:   PIPELINES="1 16", CLIENTS=50, TESTS=set,get, and bench/lib.sh's PIN / RUBRA_BIN.
# Needs: redis-server, redis-benchmark, redis-cli, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200000}
ROUNDS=${2:-3}
PIPELINES=${PIPELINES:-1 16}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get}
RUBRA_PORT=${RUBRA_PORT:-17579}
REDIS_PORT=${REDIS_PORT:-17580}
RUBRA_TLS_PORT=${RUBRA_TLS_PORT:-17581}
REDIS_TLS_PORT=${REDIS_TLS_PORT:-17582}
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_tools redis-server redis-benchmark redis-cli openssl
[ "$PIN" = 1 ] && need_tools taskset
build_rubra
make_workdir

# A private CA, a server certificate and a client certificate (EC P-256).
(
  cd "$WORK"
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  key ca.key
  openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
  for leaf in server client; do
    key $leaf.key
    openssl req -new -key $leaf.key -out $leaf.csr -subj /CN=$leaf 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n' >$leaf.ext
    openssl x509 -req -in $leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $leaf.crt -days 2 -extfile $leaf.ext 2>/dev/null
  done
)
TLS_FILES=(--tls-cert-file "$WORK/server.crt" --tls-key-file "$WORK/server.key" --tls-ca-cert-file "$WORK/ca.crt")
CLIENT_TLS=(--tls --cacert "$WORK/ca.crt" --cert "$WORK/client.crt" --key "$WORK/client.key")
start rubra --tls-port "$RUBRA_TLS_PORT" "${TLS_FILES[@]}"
start redis --tls-port "$REDIS_TLS_PORT" "${TLS_FILES[@]}"

tls_port() { if [ "$1" = rubra ]; then echo "$RUBRA_TLS_PORT"; else echo "$REDIS_TLS_PORT"; fi; }

declare -A RPS CPU
for pipeline in $PIPELINES; do
  for round in $(seq "$ROUNDS"); do
    for who in rubra redis; do
      for mode in plain tls; do
        if [ "$mode" = tls ]; then args=(-p "$(tls_port "$who")" "${CLIENT_TLS[@]}"); else args=(-p "$(port "$who")"); fi
        before=$(ticks "${PID[$who]}")
        out=$($CLI_CPU redis-benchmark "${args[@]}" -q -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$pipeline" 2>&1 | tr '\r' '\n')
        after=$(ticks "${PID[$who]}")
        cpu=$(cpu_per_mreq $((after - before)) $((N * $(echo "$TESTS" | tr ',' '\n' | wc -l))))
        for t in $(echo "$TESTS" | tr 'a-z,' 'A-Z '); do
          rps=$(echo "$out" | awk -v t="$t" '$1 == t":" && /requests per second/ { print $2 }' | tail -1)
          [ -n "$rps" ] || { echo "no result for $who $mode $t: $out" >&2; exit 1; }
          RPS[$who,$mode,$pipeline,$t]+="$rps "
        done
        CPU[$who,$mode,$pipeline]+="$cpu "
      done
    done
  done
done

echo "redis-benchmark -n $N -c $CLIENTS, $ROUNDS rounds (median), pinned=$PIN; TLS: client certificates verified"
printf '%-4s %-4s | %12s %12s %9s | %12s %12s %9s | %11s %11s\n' \
  P test rubra-plain rubra-tls tls/plain redis-plain redis-tls tls/plain rubra/redis rubra/redis
printf '%-4s %-4s | %12s %12s %9s | %12s %12s %9s | %11s %11s\n' '' '' rps rps '' rps rps '' plain tls
for pipeline in $PIPELINES; do
  for t in $(echo "$TESTS" | tr 'a-z,' 'A-Z '); do
    rp=$(echo "${RPS[rubra,plain,$pipeline,$t]}" | median); rt=$(echo "${RPS[rubra,tls,$pipeline,$t]}" | median)
    dp=$(echo "${RPS[redis,plain,$pipeline,$t]}" | median); dt=$(echo "${RPS[redis,tls,$pipeline,$t]}" | median)
    printf '%-4s %-4s | %12.0f %12.0f %9s | %12.0f %12.0f %9s | %11s %11s\n' "$pipeline" "$t" \
      "$rp" "$rt" "$(ratio "$rt" "$rp")" "$dp" "$dt" "$(ratio "$dt" "$dp")" "$(ratio "$rp" "$dp")" "$(ratio "$rt" "$dt")"
  done
done
echo
echo "server CPU seconds per million requests (median)"
printf '%-4s | %11s %11s | %11s %11s\n' P rubra-plain rubra-tls redis-plain redis-tls
for pipeline in $PIPELINES; do
  printf '%-4s | %11s %11s | %11s %11s\n' "$pipeline" \
    "$(echo "${CPU[rubra,plain,$pipeline]}" | median)" "$(echo "${CPU[rubra,tls,$pipeline]}" | median)" \
    "$(echo "${CPU[redis,plain,$pipeline]}" | median)" "$(echo "${CPU[redis,tls,$pipeline]}" | median)"
done
