#!/usr/bin/env bash
# The load harness: builds the release binary, starts it on a fresh SQLite
# file (or on DATABASE_URL), registers a user, runs the workloads of
# ../shared/bench/ with wrk, and prints one table of figures.
#
#   benches/load.sh                 # all workloads, 10 s each
#   DURATION=5 benches/load.sh      # shorter
#   DATABASE_URL=postgres://… JWT_SECRET=… benches/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/../shared/bench}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT/graphql"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q
BIN=$ROOT/target/release/sns-api

WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_URL=${DATABASE_URL:-"sqlite://$WORK/bench.db?mode=rwc"}
export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
# The bench registers thousands of accounts from one address.
export RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}

start_ns=$(date +%s%N)
"$BIN" > "$WORK/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.005
done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

export EMAIL="bench-$$@example.com" PASSWORD="correct-horse-battery"
TOKEN=$(curl -sf -H 'content-type: application/json' "$URL" -d "{\"query\":\"mutation(\$i: RegisterInput!){ register(input: \$i) { accessToken } }\",\"variables\":{\"i\":{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}}}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
export TOKEN

# Peak RSS of the server, sampled every 50 ms in the background.
peak_file=$WORK/peak
echo 0 > "$peak_file"
( peak=0; while kill -0 "$PID" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$peak_file"
    sleep 0.05
  done ) &

run() { # name script connections
  local script; script=$(mktemp --suffix=.lua)
  cat "$BENCH_DIR/check.lua" "$BENCH_DIR/$2" > "$script"
  local threads=2; [ "$3" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$3" -d"${DURATION}s" -s "$script" "$URL" > "$WORK/$1.out" 2>&1 || { cat "$WORK/$1.out"; return 1; }
  rm -f "$script"
}
field() { awk -v k="$2" '$1 == k {print $2}' "$WORK/$1.out"; }

run login1 gql_login.lua 1
run me gql_me.lua 32
run login gql_login.lua 16
run register gql_register.lua 16

cores=$(nproc)
login1_ms=$(field login1 P50_MS)
# One login at a time is one argon2 verify plus a little I/O: its median
# bounds the verify time from above, so the hash-bound limit below is a floor.
limit=$(python3 -c "print(round($cores / ($login1_ms / 1000), 1))")

printf '\nmachine: %s, %s cores, %s\n' "$(uname -m)" "$cores" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
printf 'database: %s\n\n' "${DATABASE_URL%%:*}"
printf '%-28s %12s %10s %10s %6s\n' workload req/s p50_ms p99_ms bad
for w in login1 me login register; do
  printf '%-28s %12s %10s %10s %6s\n' "$w" "$(field $w RPS)" "$(field $w P50_MS)" "$(field $w P99_MS)" "$(field $w BAD_RESPONSES)"
done
printf '\n%-28s %s\n' "start to ready (ms)" "$ready_ms"
printf '%-28s %s\n' "login median, alone (ms)" "$login1_ms"
printf '%-28s %s\n' "hash-bound limit (req/s)" "$limit"
printf '%-28s %s\n' "login / limit" "$(python3 -c "print(f'{$(field login RPS) / $limit:.0%}')")"
printf '%-28s %s\n' "peak RSS (MiB)" "$(( $(cat "$peak_file") / 1024 ))"
