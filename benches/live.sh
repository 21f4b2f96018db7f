#!/usr/bin/env bash
# The live-updates benchmark: builds the release-lto binary, seeds a fresh
# database with benches/live.rs (SOCKETS accounts with a session each, and
# an author whom FOLLOWERS of them follow), starts one server (or two on one
# PostgreSQL database), and runs benches/live.rs's socket client: every
# account's socket subscribed to feedAdded and notificationChanged, then
# ROUNDS posts by the author. It prints each server's RSS with every socket
# open, the fan-out time (createPost's answer to the last follower's event)
# beside its goal, and `me`'s rate during the rounds beside its idle rate.
#
#   benches/live.sh                 # SQLite, one instance
#   benches/live.sh postgres        # PostgreSQL, one instance
#   benches/live.sh postgres 2      # PostgreSQL, two instances; sockets split
#   QUICK=1 benches/live.sh         # 500 sockets, 250 followers, 5 rounds
#   SERVER_BIN=path benches/live.sh # that server binary (an earlier build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DB=${1:-sqlite}
INSTANCES=${2:-1}
PORT=${PORT:-18090}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
export SOCKETS=${SOCKETS:-10000} FOLLOWERS=${FOLLOWERS:-5000} ROUNDS=${ROUNDS:-50}
[ -n "${QUICK:-}" ] && SOCKETS=500 FOLLOWERS=250 ROUNDS=5
GOAL_RSS_MIB=256
GOAL_P99_MS=$([ "$INSTANCES" = 2 ] && echo 150 || echo 100)

WORK=$(mktemp -d)
PIDS=() PG_DB=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

CLIENT=$(cargo bench -q --profile release-lto --bench live --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "live" and m.get("executable"):
        print(m["executable"])')
if [ -n "${SERVER_BIN:-}" ]; then
  cp "$SERVER_BIN" "$WORK/sns-api"
else
  cargo build -q --profile release-lto
  cp "${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/sns-api" "$WORK/sns-api"
fi

case $DB in
  sqlite)
    [ "$INSTANCES" = 1 ] || { echo "two instances: on PostgreSQL" >&2; exit 2; }
    export DATABASE_URL="sqlite://$WORK/live.db?mode=rwc" ;;
  postgres)
    PG_DB="sns_live_$(date +%s)_$$"
    psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB"
    export DATABASE_URL="${PG_ADMIN%/*}/$PG_DB" ;;
  *) echo "usage: benches/live.sh [sqlite|postgres] [1|2]" >&2; exit 2 ;;
esac
export JWT_SECRET=${JWT_SECRET:-live-bench-secret-0123456789abcdef-0123}
export TOKENS="$WORK/tokens" RUST_LOG=${RUST_LOG:-warn}
"$CLIENT" seed

URLS=
for n in $(seq 1 "$INSTANCES"); do
  port=$((PORT + n - 1))
  BIND_ADDR="127.0.0.1:$port" "$WORK/sns-api" serve >> "$WORK/server-$n.log" 2>&1 &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/server-$n.log"; exit 1; }
    sleep 0.05
  done
  URLS="${URLS:+$URLS,}http://127.0.0.1:$port"
done
OUT=$(URLS=$URLS PIDS=$(IFS=,; echo "${PIDS[*]}") "$CLIENT" run)
echo "$OUT"
python3 - "$OUT" "$GOAL_RSS_MIB" "$GOAL_P99_MS" "$INSTANCES" <<'PY'
import re, sys
out, rss_goal, p99_goal, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rss = [float(x) for x in re.findall(r"RSS ([0-9.]+) MiB", out)]
p99 = float(re.search(r"p99 (-?[0-9.]+)", out).group(1))
if n == 1:
    print(f"goal: RSS <= {rss_goal:.0f} MiB: {'met' if rss[0] <= rss_goal else 'NOT met'}")
print(f"goal: fan-out p99 <= {p99_goal:.0f} ms: {'met' if p99 <= p99_goal else 'NOT met'}")
PY
printf 'machine: %s, %s cores; database: %s; %s instance(s)\n' "$(uname -m)" "$(nproc)" "${DATABASE_URL%%:*}" "$INSTANCES"
