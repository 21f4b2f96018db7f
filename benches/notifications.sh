#!/usr/bin/env bash
# The notifications benchmark: builds the release-lto binary, seeds a fresh
# database with benches/notifications.rs (one inbox of 100,000 events in
# groups of every kind), starts the server on it, signs in the recipient,
# and loads the first page of 20 and the third (after page 2's cursor) at a
# fixed rate, open loop (oha -q RATE --latency-correction), printing req/s,
# p50 and p99 beside the goal and the CPU a page of the server (and, on
# PostgreSQL, of its backends) and of oha, which shares the cores.
#
#   benches/notifications.sh                 # SQLite, a fresh file
#   benches/notifications.sh postgres        # a fresh PostgreSQL database (PG_ADMIN)
#   QUICK=1 benches/notifications.sh         # 5,000 events, 2 s a run
#   SAFETY=1 ROUNDS=2 benches/notifications.sh   # without and with the recipient's blocks and
#                                            # mutes and locked actors, alternating
#   BINS="a=/path/sns-api b=/path/sns-api" ROUNDS=3 benches/notifications.sh
#                                            # several server builds on one seeded database,
#                                            # alternating, each on a fresh server (none built then)
#   COUNT=1 BINS="a=… b=…" benches/notifications.sh
#                                            # instead of timing: each build under valgrind's
#                                            # callgrind, the server's instructions a page (COUNT
#                                            # pages after 50 to warm). A count does not drift
#                                            # with a shared machine's speed as CPU time does, so
#                                            # it compares builds; latency needs the timed runs
#
#   WRITES=10 benches/notifications.sh       # while each run loads, four actors like and unlike
#                                            # one of the recipient's posts, 10 a second in all:
#                                            # each write retires the recipient's kept pages
#
# RATE (1000 a second), DURATION (10 s), CONNECTIONS (32) shape the runs;
# SEED_EVENTS and SEED_ACTORS the seed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB=${1:-sqlite}
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18083}
URL="http://127.0.0.1:$PORT/graphql"
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
GOAL_P99_MS=10
ROUNDS=${ROUNDS:-1}
WRITES=${WRITES:-0}
# Without and with the safety rows (benches/shared/safety.rs), or as seeded ("-").
STATES=${SAFETY:+off on}
STATES=${STATES:--}
[ -n "${QUICK:-}" ] && DURATION=2 && export SEED_EVENTS=${SEED_EVENTS:-5000} SEED_ACTORS=${SEED_ACTORS:-200}

command -v oha >/dev/null || { echo "needs oha (cargo install oha)" >&2; exit 2; }
if [ -n "${COUNT:-}" ]; then
  command -v callgrind_control >/dev/null || { echo "COUNT needs valgrind" >&2; exit 2; }
  [ "$COUNT" -gt 1 ] 2>/dev/null || COUNT=300
fi
WORK=$(mktemp -d)
PID= PG_DB=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SEEDER=$(cargo bench -q --profile release-lto --bench notifications --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "notifications" and m.get("executable"):
        print(m["executable"])')
if [ -z "${BINS:-}" ]; then
  cargo build -q --profile release-lto
  cp "${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/sns-api" "$WORK/sns-api"
  BINS="head=$WORK/sns-api"
fi

case $DB in
  sqlite) export DATABASE_URL="sqlite://$WORK/inbox.db?mode=rwc" ;;
  postgres)
    PG_DB="sns_inbox_$(date +%s)_$$"
    psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB"
    export DATABASE_URL="${PG_ADMIN%/*}/$PG_DB" ;;
  *) echo "usage: benches/notifications.sh [sqlite|postgres]" >&2; exit 2 ;;
esac
"$SEEDER" --bench seed

export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
export JWT_SECRET=${JWT_SECRET:-inbox-bench-secret-0123456789abcdef}
# One sign-in serves every build and round.
export ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL:-12h}
# start BUILD [ARGS…] (a fresh server, ready, as PID) and stop.
. benches/shared/server.sh
read -r first _ <<< "$BINS"
start "${first#*=}" serve

# The page a client shows: each group with its post and three actors.
QUERY='query($a: String) { notifications(first: 20, after: $a) { edges { cursor node { id kind actorCount createdAt read post { id body } actors { id handle displayName viewerFollows } } } pageInfo { hasNextPage endCursor } } }'
# "TOKEN CURSOR POST WRITERS": the recipient signed in, the cursor ending
# page 2, one of its liked posts, and four actors signed in (comma-separated).
read -r TOKEN AFTER POST WRITERS < <(python3 - "$URL" "$QUERY" <<'PY'
import json, sys, urllib.request
url, query = sys.argv[1], sys.argv[2]
def gql(q, variables, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    body = json.dumps({"query": q, "variables": variables}).encode()
    answer = json.load(urllib.request.urlopen(urllib.request.Request(url, body, headers)))
    if answer.get("errors"):
        sys.exit(f"setup: {answer['errors']}")
    return answer["data"]
def login(i):
    return gql("mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
               {"i": {"email": f"bench-{i}@example.com", "password": "correct-horse-battery"}})["login"]["accessToken"]
token = login(0)
after = None
for _ in range(2):
    page = gql(query, {"a": after}, token)["notifications"]
    assert len(page["edges"]) == 20, page
    after = page["pageInfo"]["endCursor"]
liked = gql('{ notifications(first: 1, kinds: [LIKE]) { nodes { post { id } } } }', {}, token)
post = liked["notifications"]["nodes"][0]["post"]["id"]
print(token, after, post, ",".join(login(i) for i in range(1, 5)))
PY
)

# While a run loads: WRITES likes and unlikes a second, in turns by the
# four writers, of the recipient's post (each a notification's change).
writer() {
  exec python3 - "$URL" "$WRITES" "$POST" "$WRITERS" <<'PY'
import json, sys, time, urllib.request
url, rate, post, tokens = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
liked = set()
due = time.monotonic()
n = 0
while True:
    token = tokens[n % len(tokens)]
    op = "unlike" if token in liked else "like"
    body = json.dumps({"query": "mutation($p: ID!) { %s(postId: $p) { errors { code } } }" % op,
                       "variables": {"p": post}}).encode()
    headers = {"content-type": "application/json", "authorization": "Bearer " + token}
    answer = json.load(urllib.request.urlopen(urllib.request.Request(url, body, headers)))
    if answer.get("errors") or answer["data"][op]["errors"]:
        sys.exit(f"writer: {answer}")
    liked ^= {token}
    n += 1
    due += 1 / rate
    time.sleep(max(0.0, due - time.monotonic()))
PY
}

# CPU ticks so far of the server, and of the PostgreSQL backends serving it.
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
pg_ticks() {
  [ -n "$PG_DB" ] || { echo 0; return; }
  local total=0 pid
  for pid in $(psql "$PG_ADMIN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$PG_DB'"); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

# req/s p50_ms p99_ms non-200 server_cpu_ms/req db_cpu_ms/req of one run.
# The request body of the page after AFTER (JSON: null, or a cursor).
body_of() {
  python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1], "variables": {"a": json.loads(sys.argv[2])}}))' "$QUERY" "$1"
}

measure() { # after (JSON)
  local body out s0 d0
  body=$(body_of "$1")
  s0=$(ticks) d0=$(pg_ticks)
  # oha's own CPU (GNU time, when there is one): its share of the cores.
  local timed=()
  : > "$WORK/oha.time"
  [ -x /usr/bin/time ] && timed=(/usr/bin/time -f '%U %S' -o "$WORK/oha.time")
  local writing=
  if [ "$WRITES" != 0 ]; then
    writer & writing=$!
  fi
  out=$("${timed[@]}" oha -q "$RATE" --latency-correction -z "${DURATION}s" -c "$CONNECTIONS" --no-tui --output-format json \
    -m POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$body" "$URL")
  if [ -n "$writing" ]; then
    kill "$writing" 2>/dev/null || { echo "the writer stopped early" >&2; exit 1; }
    wait "$writing" 2>/dev/null || true
  fi
  python3 - "$out" "$(($(ticks) - s0))" "$(($(pg_ticks) - d0))" "$(getconf CLK_TCK)" \
    "$(cat "$WORK/oha.time")" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); server, db, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = r["summary"]; p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = int(codes.get("200", 0)); bad = sum(int(v) for k, v in codes.items() if k != "200")
n = max(ok + bad, 1)
oha = f'{1e3 * sum(map(float, sys.argv[5].split())) / n:.3f}' if sys.argv[5].strip() else "-"
print(f'{s["requestsPerSec"]:.0f} {p["p50"] * 1e3:.2f} {p["p99"] * 1e3:.2f} {bad} '
      f'{1e3 * server / hz / n:.3f} {1e3 * db / hz / n:.3f} {oha}')
PY
}

# Instructions a page of the server under callgrind: COUNT pages (after
# $1, JSON), from zeroed counters to a dump, which callgrind writes as $2.
count() {
  local body
  body=$(body_of "$1")
  page() {
    oha -n "$1" -c 4 --no-tui --output-format json -m POST -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -d "$body" "$URL" \
      | python3 -c 'import json, sys
r = json.load(sys.stdin); n = int(sys.argv[1])
if r["statusCodeDistribution"] != {"200": n} or r.get("errorDistribution"):
    sys.exit("answers: %s, errors: %s" % (r["statusCodeDistribution"], r.get("errorDistribution")))' "$1"
  }
  control() {
    timeout 60 callgrind_control "$1" "$PID" > "$WORK/control.log" 2>&1 || { cat "$WORK/control.log" >&2; return 1; }
  }
  page 50 && control -z && page "$COUNT" && control -d || return 1
  [ -s "$2" ] || { echo "no dump $2" >&2; return 1; }
  awk -v n="$COUNT" '/^(summary|totals):/ { printf "%.3f\n", $2 / n / 1e6; exit }' "$2"
}

if [ -n "${COUNT:-}" ]; then
  printf '%-6s %-8s %-5s %22s\n' round build page "M instructions a page"
  for round in $(seq 1 "$ROUNDS"); do
    for named in $BINS; do
      stop
      out="$WORK/callgrind.$round.${named%%=*}"
      start valgrind -q --tool=callgrind --callgrind-out-file="$out" "${named#*=}" serve
      dumps=0
      for page in 1 3; do
        after=null
        [ "$page" = 3 ] && after="\"$AFTER\""
        dumps=$((dumps + 1))
        figure=$(count "$after" "$out.$dumps") || exit 1
        printf '%-6s %-8s %-5s %22s\n' "$round" "${named%%=*}" "$page" "$figure"
      done
    done
  done
  printf '\nthe server process only (on PostgreSQL its backends are not counted); %s pages a figure\n' "$COUNT"
  exit 0
fi

LINE='%-6s %-8s %-6s %-5s %8s %8s %8s %5s %9s %5s %14s %10s %11s\n'
printf "$LINE" round build safety page req/s p50_ms p99_ms bad goal_p99 met server_cpu_ms db_cpu_ms oha_cpu_ms
for round in $(seq 1 "$ROUNDS"); do
  for state in $STATES; do
    # The rows change between runs only; page 3 keeps the cursor read
    # without them.
    [ "$state" = - ] || "$SEEDER" --bench safety "$state" > /dev/null
    for named in $BINS; do
      stop
      start "${named#*=}" serve
      # Warm the caches (the database's and the server's) first.
      DURATION=2 measure null > /dev/null
      for page in 1 3; do
        after=null
        [ "$page" = 3 ] && after="\"$AFTER\""
        read -r rps p50 p99 bad cpu db oha < <(measure "$after")
        met=$(python3 -c "print('yes' if $p99 <= $GOAL_P99_MS and $bad == 0 else 'no')")
        printf "$LINE" "$round" "${named%%=*}" "$state" "$page" "$rps" "$p50" "$p99" "$bad" "<= $GOAL_P99_MS" "$met" "$cpu" "$db" "$oha"
      done
    done
  done
done
printf '\nmachine: %s, %s cores; database: %s; %s a second for %s s, %s connections; %s writes a second\n' \
  "$(uname -m)" "$(nproc)" "${DATABASE_URL%%:*}" "$RATE" "$DURATION" "$CONNECTIONS" "$WRITES"
