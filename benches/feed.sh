#!/usr/bin/env bash
# The feed benchmark: builds the release-lto binary, seeds a fresh database
# with benches/feed.rs (10,000 accounts each following 200, 1,000,000 posts,
# a tenth of the feed's entries reposts, replies and likes), starts the
# server on it, signs in VIEWERS of the seeded accounts, measures the first
# feed page and the third (after page 2's cursor) at a fixed rate, open
# loop (oha -q RATE --latency-correction, OHA_PROCS processes of one viewer
# each), and prints req/s and p99 beside the goal and the CPU a page of the
# server and (PostgreSQL) of the database's processes, then the plans of the
# feed statements.
#
#   benches/feed.sh                      # SQLite, a fresh file
#   benches/feed.sh postgres             # a fresh PostgreSQL database (PG_ADMIN)
#   QUICK=1 benches/feed.sh              # 500 accounts following 50, 20,000 posts, 2 s
#   KEEP=1 benches/feed.sh postgres      # keep the seeded database (prints its URL)
#   SEEDED_URL=… benches/feed.sh         # reuse one seeded before, not seeding again
#   BINS="a=/path/sns-api b=/path/sns-api" ROUNDS=3 benches/feed.sh
#                                        # several server builds on one database, alternating
#                                        # (none built then); REPOSTED_BY=0 leaves `repostedBy`
#                                        # out of the page, for a build without it
#   SAFETY=1 benches/feed.sh [postgres]  # each build without and with blocks, mutes and locked
#                                        # profiles (benches/shared/safety.rs), side by side
#
# SEED_ACCOUNTS, SEED_FOLLOWS, SEED_POSTS size the seed; DURATION (10 s),
# RATE (1000 pages a second in all), OHA_PROCS (4) and CONNECTIONS (16 each)
# the runs. The p99 printed is the highest of the processes' p99s, which
# bounds that of all their pages together.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB=${1:-sqlite}
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
OHA_PROCS=${OHA_PROCS:-4}
CONNECTIONS=${CONNECTIONS:-16}
REPOSTED_BY=${REPOSTED_BY:-1}
VIEWERS=${VIEWERS:-50}
ROUNDS=${ROUNDS:-1}
# Without and with the safety rows, or as the database is ("-").
STATES=${SAFETY:+off on}
STATES=${STATES:--}
PORT=${PORT:-18082}
URL="http://127.0.0.1:$PORT/graphql"
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
GOAL_P99_MS=10
if [ -n "${QUICK:-}" ]; then
  export SEED_ACCOUNTS=${SEED_ACCOUNTS:-500} SEED_FOLLOWS=${SEED_FOLLOWS:-50} SEED_POSTS=${SEED_POSTS:-20000}
  DURATION=2
fi

command -v oha >/dev/null || { echo "installing oha"; cargo install oha --locked -q; }
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
# (SEEDER names one built before.)
SEEDER=${SEEDER:-$(cargo bench -q --profile release-lto --bench feed --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "feed" and m.get("executable"):
        print(m["executable"])')}
feed_rs() { "$SEEDER" --bench "$@"; }
if [ -z "${BINS:-}" ]; then
  cargo build -q --profile release-lto
  cp "${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/sns-api" "$WORK/sns-api"
  BINS="head=$WORK/sns-api"
fi

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

# VIEWERS accounts spread over the seeded ones, signed in to build $1: a
# line each of "TOKEN CURSOR" (the cursor of the last entry of its page 2;
# each build's own, as builds may write cursors differently).
tokens() {
  python3 - "$URL" "$VIEWERS" "${SEED_ACCOUNTS:-10000}" > "$WORK/tokens-$1" <<'PY'
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

# CPU time so far in clock ticks: the server's; the database server's
# processes' (PostgreSQL; 0 for SQLite, which runs in the server). Other
# clients of the same PostgreSQL count too: run nothing else meanwhile.
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
db_ticks() {
  [ "${DATABASE_URL%%:*}" = postgres ] || { echo 0; return; }
  local total=0 t
  for pid in $(pgrep -x postgres); do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && total=$((total + t))
  done
  echo "$total"
}

# One page's request body for a viewer's line ("TOKEN CURSOR") of page $1.
body() {
  python3 - "$1" "$2" "$REPOSTED_BY" <<'PY'
import json, sys
page, cursor, reposted_by = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
edge = "cursor " + ("repostedBy { handle displayName } " if reposted_by else "")
selection = ("edges { " + edge + "node { id body createdAt author { handle displayName viewerFollows } } } "
             "pageInfo { hasNextPage endCursor }")
if page == "3":
    print(json.dumps({"query": "query($after: String) { feed(first: 20, after: $after) { " + selection + " } }",
                      "variables": {"after": cursor}}))
else:
    print(json.dumps({"query": "{ feed(first: 20) { " + selection + " } }"}))
PY
}

# req/s, p50, p99 (the highest of the processes'), bad answers, the server's
# and the database's CPU ms a page, of one run of page $1 by build $2: OHA_PROCS
# oha processes, each one viewer at RATE/OHA_PROCS pages a second, open loop.
measure() {
  local page=$1 name=$2 before db_before k token cursor
  local per=$((RATE / OHA_PROCS))
  for k in $(seq 1 "$OHA_PROCS"); do
    read -r token cursor < <(sed -n "$(( (k - 1) * VIEWERS / OHA_PROCS + 1 ))p" "$WORK/tokens-$name")
    body "$page" "$cursor" > "$WORK/body-$k"
    # An answer with errors is a bad page however fast: check one first.
    curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
      --data-binary @"$WORK/body-$k" "$URL" | grep -q '"errors"' && { echo "page $page answers errors" >&2; exit 1; }
    echo "$token" > "$WORK/token-$k"
  done
  before=$(ticks) db_before=$(db_ticks)
  local pids=()
  for k in $(seq 1 "$OHA_PROCS"); do
    oha --no-tui --output-format json -z "${DURATION}s" -w -q "$per" --latency-correction -c "$CONNECTIONS" \
      -m POST -H "authorization: Bearer $(cat "$WORK/token-$k")" -T application/json \
      -D "$WORK/body-$k" "$URL" > "$WORK/oha-$k.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$WORK" "$OHA_PROCS" "$DURATION" "$(( $(ticks) - before ))" "$(( $(db_ticks) - db_before ))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, procs, duration, server, db, tck = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:7])
runs = [json.load(open(f"{work}/oha-{k}.json")) for k in range(1, procs + 1)]
ok = sum(r["statusCodeDistribution"].get("200", 0) for r in runs)
bad = sum(sum(v for c, v in r["statusCodeDistribution"].items() if c != "200") + sum(r.get("errorDistribution", {}).values()) for r in runs)
p = lambda q: max(r["latencyPercentiles"][q] for r in runs) * 1e3
print(f"{ok / duration:.0f} {p('p50'):.2f} {p('p99'):.2f} {bad} {1e3 * server / tck / max(ok, 1):.3f} {1e3 * db / tck / max(ok, 1):.3f}")
PY
}

LINE='%-6s %-9s %-6s %-5s %8s %8s %8s %5s %9s %5s %13s %13s\n'
printf "$LINE" round build safety page pages/s p50_ms p99_ms bad goal_p99 met server_cpu_ms db_cpu_ms
for round in $(seq 1 "$ROUNDS"); do
  for named in $BINS; do
    name=${named%%=*} bin=${named#*=}
    start "$bin"
    for state in $STATES; do
      # The rows change under the running server, between runs only.
      [ "$state" = - ] || feed_rs safety "$state" > /dev/null
      [ -s "$WORK/tokens-$name" ] || tokens "$name"
      # Warm the caches (the database's and the server's) before measuring.
      DURATION=2 measure 1 "$name" > /dev/null
      for page in 1 3; do
        read -r rps p50 p99 bad cpu db_cpu < <(measure "$page" "$name")
        met=$(python3 -c "print('yes' if $p99 <= $GOAL_P99_MS and $bad == 0 else 'no')")
        printf "$LINE" "$round" "$name" "$state" "$page" "$rps" "$p50" "$p99" "$bad" "<= $GOAL_P99_MS" "$met" "$cpu" "$db_cpu"
      done
    done
    stop
  done
done

printf '\nmachine: %s, %s cores, %s, load %s; database: %s; %s pages/s in %s oha processes of %s connections, %s s a run, %s viewers signed in\n\n' \
  "$(uname -m)" "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "${DATABASE_URL%%:*}" "$RATE" "$OHA_PROCS" "$CONNECTIONS" "$DURATION" "$VIEWERS"
feed_rs explain
logged=$(wc -l < "$WORK/server.log")
printf 'server log (RUST_LOG=%s): %s lines\n' "$RUST_LOG" "$logged"
head -n 5 "$WORK/server.log"
