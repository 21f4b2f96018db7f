#!/usr/bin/env bash
# The feed benchmark: builds the release-lto binary, seeds a fresh database
# with benches/feed.rs (10,000 accounts each following 200, 1,000,000 posts,
# a tenth of the feed's entries reposts, replies and likes; blocks, mutes
# and locked profiles; and the accounts of the viewer shapes below), then,
# for each build in BINS, signs the viewers in (`setup`) and measures page
# 1 and page 3 of 20 posts with their authors:
#
#   typical @RATE   50 viewers following 200, rotating request by request,
#                   RATE (1,000) pages a second in all, open loop, latency
#                   from each request's scheduled moment: p99 against the
#                   10 ms goal
#   typical         the same viewers at SHAPE_RATE (50) pages a second: the
#                   page each shape's CPU is compared with (a page's CPU
#                   depends on the rate; 50 a second leaves the costliest
#                   shape of the build before, 15-20 ms a page following
#                   5,000, within two cores)
#   following 5000  10 viewers following 5,000 accounts each
#   one quiet       10 viewers following only an account with 100 posts
#   page 50         the typical viewers' posts 981-1,000 (cursor at setup)
#   back 30 days    BACK (400) viewers a page, each read once, none read
#                   before by the server process measuring (setup ran in
#                   another): no cache of pages can hold them
#
# each at SHAPE_RATE for DURATION (back: BACK requests), with the CPU a page
# of the server's process and (PostgreSQL) the database's processes. All
# the while, the celebrity (followed by 50,000: every seeded account and
# 40,000 light ones) posts every POST_EVERY_MS (200) ms through
# `createPost`; after every fifth post a typical viewer reads page 1 until
# the post is there. Printed: createPost's latency beside `register`'s (20
# at setup, one at a time), the worst delay from a post to its follower's
# page, and the CPU of the posting alone (a baseline of BASE s with nothing
# else running; it is taken off every run's CPU, so a page's CPU is its
# own; POST_EVERY_MS=0: no posting). After 20 posts the typical viewers'
# page 1 holds the celebrity's posts only; their page 3 and page 50 stay
# as found at setup (the cursors). The load generator is benches/feed.rs
# `load`: reqwest, open loop (its timer adds up to 1 ms to a latency).
#
#   benches/feed.sh                      # SQLite, a fresh file
#   benches/feed.sh postgres             # a fresh PostgreSQL database (PG_ADMIN)
#   QUICK=1 benches/feed.sh [postgres]   # 500 accounts following 50, 20,000 posts, 2 s runs
#   KEEP=1 benches/feed.sh postgres      # keep the seeded database (prints its URL)
#   SEEDED_URL=… benches/feed.sh         # reuse one seeded before, not seeding again
#   BINS="a=/path/sns-api b=/path/sns-api" ROUNDS=3 benches/feed.sh
#                                        # several server builds on one database, alternating
#                                        # (none built then); REPOSTED_BY=0 leaves `repostedBy`
#                                        # out of the page, for a build without it
#
# SEED_ACCOUNTS, SEED_FOLLOWS, SEED_POSTS, SEED_CELEBRITY_FOLLOWERS and
# SEED_HEAVY_FOLLOWS size the seed; DURATION (10 s), RATE, SHAPE_RATE,
# VIEWERS (50), BACK, BASE (DURATION) and POST_EVERY_MS the runs. With
# several rounds the table holds each build's median.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB=${1:-sqlite}
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
SHAPE_RATE=${SHAPE_RATE:-50}
REPOSTED_BY=${REPOSTED_BY:-1}
VIEWERS=${VIEWERS:-50}
BACK=${BACK:-400}
ROUNDS=${ROUNDS:-1}
POST_EVERY_MS=${POST_EVERY_MS:-200}
PORT=${PORT:-18082}
export URL="http://127.0.0.1:$PORT/graphql"
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
GOAL_P99_MS=10
if [ -n "${QUICK:-}" ]; then
  export SEED_ACCOUNTS=${SEED_ACCOUNTS:-500} SEED_FOLLOWS=${SEED_FOLLOWS:-50} SEED_POSTS=${SEED_POSTS:-20000}
  export SEED_CELEBRITY_FOLLOWERS=${SEED_CELEBRITY_FOLLOWERS:-2000} SEED_HEAVY_FOLLOWS=${SEED_HEAVY_FOLLOWS:-400}
  DURATION=2 BACK=100
fi
BASE=${BASE:-$DURATION}

WORK=$(mktemp -d)
PID= POSTER= PG_DB=
cleanup() {
  [ -n "$POSTER" ] && kill "$POSTER" 2>/dev/null
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$PG_DB" ] && [ -z "${KEEP:-}" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept: SEEDED_URL=${DATABASE_URL:-} (tokens in $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The seeder and clients (benches/feed.rs), run as itself: `cargo bench`
# would also rebuild the server with the dev-dependencies' features.
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
PG_NAME=${DATABASE_URL##*/}
PG_NAME=${PG_NAME%%\?*}

export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
export JWT_SECRET=${JWT_SECRET:-feed-bench-secret-0123456789abcdef}
# The sign-ins from one address at setup; tokens that last the whole run.
export RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}
export ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL:-12h}

# start BUILD [ARGS…] (a fresh server, ready, as PID) and stop.
. benches/shared/server.sh

# CPU time so far in clock ticks: the server's; the database server's
# processes' (PostgreSQL; none for SQLite, which runs in the server), but
# for the backends of other databases (PostgreSQL's shared processes
# count), as "pid ticks" lines in file $1. db_ticks A B: the ticks of B's
# processes since A (a process born since counts whole; one ended since is
# lost, as are backends of other databases that start and end between).
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
db_snap() {
  : > "$1"
  [ "${DATABASE_URL%%:*}" = postgres ] || return 0
  local others
  others=" $(psql "$PG_ADMIN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> '$PG_NAME'" | tr '\n' ' ') "
  for pid in $(pgrep -x postgres); do
    case $others in *" $pid "*) continue ;; esac
    awk -v pid="$pid" '{print pid, $14 + $15}' "/proc/$pid/stat" 2>/dev/null >> "$1" || true
  done
}
db_ticks() { awk 'NR == FNR { was[$1] = $2; next } { total += $2 - was[$1] } END { print total + 0 }' "$1" "$2"; }
now() { date +%s.%N; }

# Each run appends a JSON line to $WORK/results.
record() { python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$1" >> "$WORK/results"; }

# One run of build $1, round $2: shape $3's page $4 file at $5 pages a
# second, load's limit $6 (duration=S or count=N), under the name $7.
run() {
  local name=$1 round=$2 file=$3 page=$4 rate=$5 limit=$6 shape=$7 t0 s0 t1 s1
  t0=$(now) s0=$(ticks)
  db_snap "$WORK/db0"
  feed_rs load "file=$WORK/setup-$name/$file-$page" "rate=$rate" "$limit" > "$WORK/load.json"
  t1=$(now) s1=$(ticks)
  db_snap "$WORK/db1"
  python3 - "$WORK" "$name" "$round" "$shape" "$page" "$rate" "$t0" "$t1" "$((s1 - s0))" "$(db_ticks "$WORK/db0" "$WORK/db1")" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, name, round_, shape, page, rate = sys.argv[1:7]
t0, t1 = float(sys.argv[7]), float(sys.argv[8])
server, db, tck = (int(x) for x in sys.argv[9:12])
base = json.loads(open(f"{work}/base-{name}-{round_}").read())
load = json.load(open(f"{work}/load.json"))
ok = max(load["ok"], 1)
# The posting's CPU (the baseline's, a second) over the run's wall time is not the pages'.
server_ms = (1e3 * server / tck - base["server_ms_s"] * (t1 - t0)) / ok
db_ms = (1e3 * db / tck - base["db_ms_s"] * (t1 - t0)) / ok
with open(f"{work}/results", "a") as results:
    print(json.dumps({"kind": "run", "build": name, "round": int(round_), "shape": shape, "page": int(page),
                      "rate": float(rate), **load, "server": server_ms, "db": db_ms, "t0": t0, "t1": t1}), file=results)
print(f"  round {round_} {name:<12} {shape:<15} page {page:>2} at {float(rate):5.0f}/s: {load['served']:6.0f} pages/s,"
      f" p50 {load['p50']:6.2f} p99 {load['p99']:7.2f} ms, {load['bad']} bad; srv {server_ms:.3f} db {db_ms:.3f} ms a page")
PY
}

# The seed's feed, before the cursors are found (a kept database holds the
# posts of earlier runs; each build and round below unposts again).
feed_rs unpost > /dev/null

# Per build: sign the viewers in, find the cursors, time `register`; in a
# server process of its own, so that no page read here is in the memory of
# the processes measured.
for named in $BINS; do
  name=${named%%=*} bin=${named#*=}
  start "$bin"
  feed_rs setup "out=$WORK/setup-$name" "viewers=$VIEWERS" "back=$BACK" "reposted_by=$REPOSTED_BY" \
    > "$WORK/register-$name.json"
  record "{\"kind\": \"register\", \"build\": \"$name\", \"register\": $(cat "$WORK/register-$name.json")}"
  stop
done

echo "runs (CPU in ms a page; server = the server's process, db = the database's):"
for round in $(seq 1 "$ROUNDS"); do
  for named in $BINS; do
    name=${named%%=*} bin=${named#*=}
    # Each build and round on the seed's feed, not on the posts of the runs before.
    feed_rs unpost > /dev/null
    start "$bin"
    rm -f "$WORK/stop"
    if [ "$POST_EVERY_MS" != 0 ]; then
      feed_rs poster "dir=$WORK/setup-$name" "stop=$WORK/stop" "every_ms=$POST_EVERY_MS" \
        "each=$WORK/posts-$name-$round" > "$WORK/poster.json" &
      POSTER=$!
      sleep 1
    fi
    # The posting alone: its CPU a second, taken off every run's.
    t0=$(now) s0=$(ticks)
    db_snap "$WORK/db0"
    sleep "$BASE"
    t1=$(now) s1=$(ticks)
    db_snap "$WORK/db1"
    python3 -c 'import json, sys
t, s, d, tck, every = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
print(json.dumps({"server_ms_s": 1e3 * s / tck / t, "db_ms_s": 1e3 * d / tck / t, "posts_s": 1e3 / every if every else 0.0,
                  "t0": float(sys.argv[6]), "t1": float(sys.argv[6]) + t}))' \
      "$(python3 -c "print($t1 - $t0)")" "$((s1 - s0))" "$(db_ticks "$WORK/db0" "$WORK/db1")" "$(getconf CLK_TCK)" "$POST_EVERY_MS" "$t0" \
      > "$WORK/base-$name-$round"
    record "{\"kind\": \"base\", \"build\": \"$name\", \"round\": $round, \"base\": $(cat "$WORK/base-$name-$round")}"
    # Warm the caches (the database's and the server's) before measuring.
    feed_rs load "file=$WORK/setup-$name/typical-1" "rate=$RATE" duration=2 > /dev/null
    for page in 1 3; do run "$name" "$round" typical "$page" "$RATE" "duration=$DURATION" "typical @$RATE"; done
    for page in 1 3; do run "$name" "$round" typical "$page" "$SHAPE_RATE" "duration=$DURATION" typical; done
    for page in 1 3; do run "$name" "$round" heavy "$page" "$SHAPE_RATE" "duration=$DURATION" "following 5000"; done
    for page in 1 3; do run "$name" "$round" quiet "$page" "$SHAPE_RATE" "duration=$DURATION" "one quiet"; done
    run "$name" "$round" typical 50 "$SHAPE_RATE" "duration=$DURATION" "page 50"
    for page in 1 3; do run "$name" "$round" back "$page" "$SHAPE_RATE" "count=$BACK" "back 30 days"; done
    if [ -n "$POSTER" ]; then
      touch "$WORK/stop"
      wait "$POSTER"
      POSTER=
      record "{\"kind\": \"poster\", \"build\": \"$name\", \"round\": $round, \"poster\": $(cat "$WORK/poster.json")}"
    fi
    stop
  done
done

LOAD="$(uname -m), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/results" "$WORK" "${DATABASE_URL%%:*}" "$GOAL_P99_MS" "$RATE" "$SHAPE_RATE" "$VIEWERS" "$BACK" "$DURATION" \
  "$POST_EVERY_MS" "$ROUNDS" "$LOAD" "${SEED_CELEBRITY_FOLLOWERS:-50000}" "$BINS" <<'PY'
import json, math, statistics, sys
path, work, db, goal, rate, shape_rate, viewers, back, duration, every, rounds, machine, celeb, bins = sys.argv[1:15]
goal = float(goal)
builds = [b.split("=", 1)[0] for b in bins.split()]
rows = [json.loads(l) for l in open(path)]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def runs(build, shape, page):
    return [r for r in rows if r["kind"] == "run" and r["build"] == build and r["shape"] == shape and r["page"] == page]
def stat(build, shape, page, key):
    return med([r[key] for r in runs(build, shape, page)])
def cpu(build, shape, page):
    return stat(build, shape, page, "server") + stat(build, shape, page, "db")
order = []
for r in rows:
    if r["kind"] == "run" and (r["shape"], r["page"]) not in order:
        order.append((r["shape"], r["page"]))

print(f"\n{db}: {len(builds)} build(s), {rounds} round(s) (medians); CPU a page in ms, the server's"
      f" process (srv) and the database's (db); xtyp: (srv + db) over the typical viewer's at"
      f" {shape_rate}/s, same page (page 50: page 1); x{builds[0]}: (srv + db) over {builds[0]}'s")
head = f"{'shape':<15} {'page':>4} {'rate':>5} |"
for b in builds:
    head += f" {b[:12]:>12}: {'pages/s':>7} {'p99':>7} {'srv':>6} {'db':>6} {'xtyp':>5}" + (f" {'x' + builds[0][:8]:>9}" if b != builds[0] else "") + " |"
print(head)
for shape, page in order:
    rate_ = runs(builds[0], shape, page)[0]["rate"] if runs(builds[0], shape, page) else 0
    line = f"{shape:<15} {page:>4} {rate_:>5.0f} |"
    for b in builds:
        ref = cpu(b, "typical", 1 if page == 50 else page)
        bad = sum(r["bad"] for r in runs(b, shape, page))
        line += (f" {'':>12}  {stat(b, shape, page, 'served'):>7.0f} {stat(b, shape, page, 'p99'):>7.2f}"
                 f" {stat(b, shape, page, 'server'):>6.3f} {stat(b, shape, page, 'db'):>6.3f}"
                 f" {cpu(b, shape, page) / ref:>5.2f}")
        if b != builds[0]:
            line += f" {cpu(b, shape, page) / cpu(builds[0], shape, page):>9.2f}"
        line += " |" + (f" {bad} BAD" if bad else "")
    print(line)

print(f"\nfixed rate: {viewers} typical viewers rotating, {rate} pages/s in all, open loop, p99 from each"
      f" request's scheduled moment, goal <= {goal:g} ms:")
for b in builds:
    parts = []
    for page in (1, 3):
        rs = runs(b, f"typical @{rate}", page)
        worst = max((r["p99"] for r in rs), default=float("nan"))
        bad = sum(r["bad"] for r in rs)
        met = "met" if rs and worst <= goal and bad == 0 else "NOT met"
        parts.append(f"page {page} p99 {worst:.2f} ms (worst round), {bad} bad: {met}")
    print(f"  {b}: " + "; ".join(parts))

print(f"\ncelebrity ({celeb} followers) posting every {every} ms through createPost during every run;"
      f" after every 5th post a typical viewer reads page 1 every 10 ms until it is there:")
if every == "0":
    print("  (not run: POST_EVERY_MS=0)")
for b in builds:
    reg = next((r["register"] for r in rows if r["kind"] == "register" and r["build"] == b), {})
    posters = [r["poster"] for r in rows if r["kind"] == "poster" and r["build"] == b]
    bases = [r["base"] for r in rows if r["kind"] == "base" and r["build"] == b]
    if not posters:
        continue
    n = sum(p["posts"] for p in posters)
    print(f"  {b}: createPost p50 {med([p['p50'] for p in posters]):.2f} ms, p99 {max(p['p99'] for p in posters):.2f} ms,"
          f" max {max(p['max'] for p in posters):.1f} ms ({n} posts, {sum(p['bad'] for p in posters)} bad);"
          f" register p50 {reg.get('p50', float('nan')):.2f} ms, p99 {reg.get('p99', float('nan')):.2f} ms ({reg.get('n', 0)}, one at a time)")
    # createPost's latency by what ran meanwhile: nothing (the baseline),
    # the typical viewers at the fixed rate, the shapes at their rate.
    each = []
    for r in rows:
        if r["kind"] == "poster" and r["build"] == b:
            try:
                each += [tuple(map(float, l.split())) for l in open(f"{work}/posts-{b}-{r['round']}")]
            except OSError:
                pass
    windows = {"alone": [(x["t0"], x["t1"]) for x in bases],
               f"typical @{rate}": [(r["t0"], r["t1"]) for r in rows if r["kind"] == "run" and r["build"] == b and r["shape"].startswith("typical @")],
               f"shapes @{shape_rate}": [(r["t0"], r["t1"]) for r in rows if r["kind"] == "run" and r["build"] == b and not r["shape"].startswith("typical @")]}
    parts = []
    for label, spans in windows.items():
        lat = sorted(l for t, l, ok in each if any(a <= t < z for a, z in spans))
        if lat:
            q = lambda f: lat[max(1, math.ceil(f * len(lat))) - 1]
            parts.append(f"{label} p50 {q(0.5):.2f} p99 {q(0.99):.2f} ms ({len(lat)})")
    if parts:
        print("     createPost by what ran meanwhile: " + "; ".join(parts))
    print(f"     its post on a follower's page 1: {sum(p['checks'] for p in posters)} checks, worst"
          f" {max(p['worst_ms'] for p in posters):.1f} ms after createPost answered, {sum(p['late'] for p in posters)} over 1 s,"
          f" {sum(p['missed'] for p in posters)} not within 5 s")
    print(f"     posting alone (baseline, nothing else running): server {med([x['server_ms_s'] for x in bases]) / med([x['posts_s'] for x in bases]):.2f} ms,"
          f" database {med([x['db_ms_s'] for x in bases]) / med([x['posts_s'] for x in bases]):.2f} ms CPU a post (with the idle server's own)")
print(f"\nmachine: {machine}; back: {back} viewers a page, each read once; other runs {duration} s each")
PY
echo
feed_rs explain
logged=$(wc -l < "$WORK/server.log")
printf 'server log (RUST_LOG=%s): %s lines\n' "$RUST_LOG" "$logged"
head -n 5 "$WORK/server.log"
