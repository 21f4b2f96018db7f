#!/usr/bin/env bash
# Is fat LTO worth its build? Builds the release and release-lto binaries,
# then measures `me` at 32 connections (benches/wrk) on each, alternating
# for ROUNDS rounds so that both see the same machine, and prints req/s and
# p99 of every round and the median ratio.
#
#   benches/profiles.sh                  # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=5 benches/profiles.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
PORT=${PORT:-18081}
URL="http://127.0.0.1:$PORT/graphql"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release
cargo build -q --profile release-lto

WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
SCRIPT="$WORK/me.lua"
cat "$ROOT/benches/wrk/check.lua" "$ROOT/benches/wrk/gql_me.lua" > "$SCRIPT"

# Starts $1 on a fresh SQLite file, registers a user; sets PID and TOKEN.
start() {
  rm -f "$WORK"/sns.db*
  DATABASE_URL="sqlite://$WORK/sns.db?mode=rwc" BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
    JWT_SECRET=profiles-bench-secret-0123456789abcdef "$1" > "$WORK/server.log" 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.01; done
  TOKEN=$(curl -sf -H 'content-type: application/json' "$URL" \
    -d '{"query":"mutation { register(input: {email: \"p@example.com\", password: \"correct-horse-battery\"}) { accessToken } }"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
  export TOKEN
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# req/s and p99 (ms) of one wrk run; fails on bad answers.
measure() {
  local out
  out=$(wrk -t2 -c32 -d"${DURATION}s" -s "$SCRIPT" "$URL")
  local bad rps p99
  bad=$(awk '/^BAD_RESPONSES/ {print $2}' <<< "$out")
  rps=$(awk '/^RPS/ {print $2}' <<< "$out")
  p99=$(awk '/^P99_MS/ {print $2}' <<< "$out")
  [ "$bad" = 0 ] || { echo "bad responses: $bad" >&2; exit 1; }
  echo "$rps $p99"
}

printf '%-6s %-12s %10s %8s\n' round profile req/s p99_ms
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  declare -A rate=()
  for profile in release release-lto; do
    start "$TARGET/$profile/sns-api"
    read -r rps p99 < <(measure)
    stop
    rate[$profile]=$rps
    printf '%-6s %-12s %10s %8s\n' "$round" "$profile" "$rps" "$p99"
  done
  ratios+=("$(python3 -c "print(f'{${rate[release-lto]} / ${rate[release]}:.3f}')")")
done
sorted=$(printf '%s\n' "${ratios[@]}" | sort -n)
median=$(sed -n "$(( (ROUNDS + 1) / 2 ))p" <<< "$sorted")
echo "release-lto / release, me req/s: median $median (rounds: ${ratios[*]})"
