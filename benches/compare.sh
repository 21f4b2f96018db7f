#!/usr/bin/env bash
# Before and after, side by side: builds the release-lto binary of BASE (a git
# revision, in a temporary worktree) and of this tree, with one target
# directory (the dependencies are built once), then measures both in turn,
# alternating for ROUNDS rounds in one run, so that both see the same machine.
#
#   benches/compare.sh a1c2c51                 # `me` at 32 connections, 3 rounds of 8 s
#   ROUNDS=5 DURATION=5 benches/compare.sh main
#   benches/compare.sh HEAD~1 feed postgres    # the feed (benches/feed.sh), one seeded database
#   ME_ALIASES=20 benches/compare.sh HEAD~1    # twenty `me` in one request (benches/wrk/gql_me.lua)
#
# BASE's binary is kept in target/compare/ and reused by later runs (a
# revision's code does not change). `me`: each binary on a fresh SQLite
# file with one registered user, wrk with benches/wrk/gql_me.lua; prints
# req/s and p99 of every round and the median ratio of this tree to BASE,
# and the server's CPU time a request (user + system) with its median ratio.
# `feed`: benches/feed.sh with both binaries (BINS), whose schemas must agree.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${1:?usage: benches/compare.sh BASE-REVISION [me|feed] [sqlite|postgres]}
WORKLOAD=${2:-me}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
PORT=${PORT:-18083}
URL="http://127.0.0.1:$PORT/graphql"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
base_rev=$(git rev-parse --short "$BASE^{commit}")
head_rev=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo "+changes")

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  git worktree remove --force "$WORK/base" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# BASE first, then this tree: target/release-lto/sns-api is this tree's after.
kept="$CARGO_TARGET_DIR/compare/$(git rev-parse "$BASE^{commit}")-sns-api"
if [ ! -x "$kept" ]; then
  git worktree add -q --detach "$WORK/base" "$base_rev"
  (cd "$WORK/base" && cargo build -q --profile release-lto)
  mkdir -p "$(dirname "$kept")"
  cp "$CARGO_TARGET_DIR/release-lto/sns-api" "$kept"
  git worktree remove --force "$WORK/base"
fi
cp "$kept" "$WORK/base-sns-api"
cargo build -q --profile release-lto
cp "$CARGO_TARGET_DIR/release-lto/sns-api" "$WORK/head-sns-api"

if [ "$WORKLOAD" = feed ]; then
  BINS="$base_rev=$WORK/base-sns-api $head_rev=$WORK/head-sns-api" ROUNDS=$ROUNDS \
    DURATION=$DURATION benches/feed.sh "${3:-sqlite}"
  exit
fi
[ "$WORKLOAD" = me ] || { echo "unknown workload $WORKLOAD: me or feed" >&2; exit 2; }

SCRIPT="$WORK/me.lua"
cat "$ROOT/benches/wrk/check.lua" "$ROOT/benches/wrk/gql_me.lua" > "$SCRIPT"

# Starts $1 on a fresh SQLite file, registers a user; sets PID and TOKEN.
start() {
  rm -f "$WORK"/sns.db*
  DATABASE_URL="sqlite://$WORK/sns.db?mode=rwc" BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
    JWT_SECRET=compare-bench-secret-0123456789abcdef "$1" > "$WORK/server.log" 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.01
  done
  TOKEN=$(curl -sf -H 'content-type: application/json' "$URL" \
    -d '{"query":"mutation { register(input: {email: \"c@example.com\", password: \"correct-horse-battery\"}) { accessToken } }"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
  export TOKEN
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# The server's CPU time so far, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

# req/s, p99 (ms) and server CPU µs a request of one wrk run; fails on bad
# answers.
measure() {
  local out bad before rps
  before=$(ticks)
  out=$(wrk -t2 -c32 -d"${DURATION}s" -s "$SCRIPT" "$URL")
  bad=$(awk '/^BAD_RESPONSES/ {print $2}' <<< "$out")
  [ "$bad" = 0 ] || { echo "bad responses: $bad" >&2; exit 1; }
  rps=$(awk '/^RPS/ {print $2}' <<< "$out")
  echo "$rps $(awk '/^P99_MS/ {print $2}' <<< "$out")" \
    "$(python3 -c "print(round(1e6 * ($(ticks) - $before) / $(getconf CLK_TCK) / ($rps * $DURATION), 1))")"
}

printf '%-6s %-16s %10s %8s %12s\n' round build req/s p99_ms cpu_us/req
ratios=() cpu_ratios=()
for round in $(seq 1 "$ROUNDS"); do
  declare -A rate=() cpu=()
  for build in base head; do
    start "$WORK/$build-sns-api"
    read -r rps p99 us < <(measure)
    stop
    rate[$build]=$rps cpu[$build]=$us
    label=$([ $build = base ] && echo "$base_rev" || echo "$head_rev")
    printf '%-6s %-16s %10s %8s %12s\n' "$round" "$label" "$rps" "$p99" "$us"
  done
  ratios+=("$(python3 -c "print(f'{${rate[head]} / ${rate[base]}:.3f}')")")
  cpu_ratios+=("$(python3 -c "print(f'{${cpu[head]} / ${cpu[base]}:.3f}')")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
echo "me req/s, $head_rev / $base_rev: median $(median "${ratios[@]}") (rounds: ${ratios[*]})"
echo "server CPU a request, $head_rev / $base_rev: median $(median "${cpu_ratios[@]}") (rounds: ${cpu_ratios[*]})"
