#!/usr/bin/env bash
# The feed benchmark: builds the release-lto binary, seeds a fresh database
# with benches/feed.rs (10,000 accounts each following 200, 1,000,000 posts),
# starts the server on it, signs in VIEWERS of the seeded accounts, measures
# the first feed page and the third (after page 2's cursor) under wrk, and
# prints req/s and p99 beside the goal and the server's CPU a page, then the
# plans of the feed statements.
#
#   benches/feed.sh                      # SQLite, a fresh file
#   benches/feed.sh postgres             # a fresh PostgreSQL database (PG_ADMIN)
#   QUICK=1 benches/feed.sh              # 500 accounts following 50, 20,000 posts, 2 s
#   KEEP=1 benches/feed.sh postgres      # keep the seeded database (prints its URL)
#   SEEDED_URL=… benches/feed.sh         # reuse one seeded before, not seeding again
#   BINS="a=/path/sns-api b=/path/sns-api" ROUNDS=3 benches/feed.sh
#                                        # several server builds on one database, alternating
#
# SEED_ACCOUNTS, SEED_FOLLOWS, SEED_POSTS size the seed; DURATION (10 s) and
# CONNECTIONS (32) the wrk runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB=${1:-sqlite}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
VIEWERS=${VIEWERS:-50}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-18082}
URL="http://127.0.0.1:$PORT/graphql"
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
GOAL_P99_MS=10
if [ -n "${QUICK:-}" ]; then
  export SEED_ACCOUNTS=${SEED_ACCOUNTS:-500} SEED_FOLLOWS=${SEED_FOLLOWS:-50} SEED_POSTS=${SEED_POSTS:-20000}
  DURATION=2
fi

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d)
PID= PG_DB=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$PG_DB" ] && [ -z "${KEEP:-}" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept: SEEDED_URL=${DATABASE_URL:-} (tokens in $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The seeder (`seed`, `explain`: benches/feed.rs), run as itself: `cargo
# bench` would also rebuild the server with the dev-dependencies' features.
SEEDER=$(cargo bench -q --profile release-lto --bench feed --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "feed" and m.get("executable"):
        print(m["executable"])')
feed_rs() { "$SEEDER" --bench "$@"; }
cargo build -q --profile release-lto
cp "${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/sns-api" "$WORK/sns-api"
BINS=${BINS:-"head=$WORK/sns-api"}

if [ -n "${SEEDED_URL:-}" ]; then
  export DATABASE_URL=$SEEDED_URL
else
  case $DB in
    sqlite) export DATABASE_URL="sqlite://$WORK/feed.db?mode=rwc" ;;
    postgres)
      PG_DB="sns_feed_$(date +%s)_$$"
      psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB"
      export DATABASE_URL="${PG_ADMIN%/*}/$PG_DB" ;;
    *) echo "usage: benches/feed.sh [sqlite|postgres]" >&2; exit 2 ;;
  esac
  feed_rs seed
fi

export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
export JWT_SECRET=${JWT_SECRET:-feed-bench-secret-0123456789abcdef}
# VIEWERS sign-ins from one address at setup.
export RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}

start() { # binary
  "$1" >> "$WORK/server.log" 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.01
  done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# VIEWERS accounts spread over the seeded ones, signed in once: a line each
# of "TOKEN CURSOR" (the cursor of the last post of its page 2).
tokens() {
  python3 - "$URL" "$VIEWERS" "${SEED_ACCOUNTS:-10000}" > "$WORK/tokens" <<'PY'
import json, sys, urllib.request
url, viewers, accounts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def gql(query, variables, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    body = json.dumps({"query": query, "variables": variables}).encode()
    answer = json.load(urllib.request.urlopen(urllib.request.Request(url, body, headers)))
    if answer.get("errors"):
        sys.exit(f"setup: {answer['errors']}")
    return answer["data"]
for k in range(viewers):
    email = f"bench-{k * (accounts // viewers)}@example.com"
    token = gql("mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                {"i": {"email": email, "password": "correct-horse-battery"}})["login"]["accessToken"]
    after = None
    for _ in range(2):
        info = gql("query($a: String) { feed(first: 20, after: $a) { pageInfo { hasNextPage endCursor } } }",
                   {"a": after}, token)["feed"]["pageInfo"]
        if not info["hasNextPage"]:
            sys.exit(f"setup: {email}'s feed has no page 3")
        after = info["endCursor"]
    print(token, after)
PY
}

# The server's CPU time so far, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

# req/s, p50, p99, bad answers and the server's CPU ms a request of one wrk
# run of page $1.
measure() {
  local script out before rps
  script=$(mktemp --suffix=.lua)
  cat "$ROOT/benches/wrk/check.lua" "$ROOT/benches/wrk/gql_feed.lua" > "$script"
  before=$(ticks)
  out=$(FEED_PAGE=$1 FEED_TOKENS="$WORK/tokens" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$URL")
  rm -f "$script"
  for k in RPS P50_MS P99_MS BAD_RESPONSES; do awk -v k="$k" '$1 == k {printf "%s ", $2}' <<< "$out"; done
  rps=$(awk '$1 == "RPS" {print $2}' <<< "$out")
  python3 -c "print(round(1e3 * ($(ticks) - $before) / $(getconf CLK_TCK) / ($rps * $DURATION), 3))"
}

printf '%-6s %-8s %-7s %10s %9s %9s %5s %9s %5s %11s\n' round build page req/s p50_ms p99_ms bad goal_p99 met cpu_ms/req
for round in $(seq 1 "$ROUNDS"); do
  for named in $BINS; do
    name=${named%%=*} bin=${named#*=}
    start "$bin"
    [ -s "$WORK/tokens" ] || tokens
    # Warm the caches (the database's and the server's) before measuring.
    DURATION=2 measure 1 > /dev/null
    for page in 1 3; do
      read -r rps p50 p99 bad cpu < <(measure "$page")
      met=$(python3 -c "print('yes' if $p99 <= $GOAL_P99_MS and $bad == 0 else 'no')")
      printf '%-6s %-8s %-7s %10s %9s %9s %5s %9s %5s %11s\n' "$round" "$name" "$page" "$rps" "$p50" "$p99" "$bad" "<= $GOAL_P99_MS" "$met" "$cpu"
    done
    stop
  done
done

printf '\nmachine: %s, %s cores, %s; database: %s; %s connections, %s s a run, %s viewers\n\n' \
  "$(uname -m)" "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
  "${DATABASE_URL%%:*}" "$CONNECTIONS" "$DURATION" "$VIEWERS"
feed_rs explain
logged=$(wc -l < "$WORK/server.log")
printf 'server log (RUST_LOG=%s): %s lines\n' "$RUST_LOG" "$logged"
head -n 5 "$WORK/server.log"
