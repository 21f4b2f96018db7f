#!/usr/bin/env bash
# Uploads under load: builds the server, starts it on a fresh SQLite file
# with a temporary MEDIA_STORE, registers a user, and uploads a 12-megapixel
# JPEG of about 3 MB (made by benches/media.rs) from CLIENTS concurrent
# clients, again and again for DURATION seconds, then from QUEUED clients,
# sampling the server's RSS; `me` (benches/wrk, closed loop) runs beside the
# uploads and alone. Prints, per phase: uploads/s and their p50, the peak
# RSS (VmHWM since the phase began, and the highest VmRSS sampled), and
# `me` req/s and p99.
#
# Queued uploads are temporary files, read on a pool thread when their turn
# comes: the peak RSS must not grow with QUEUED.
#
#   benches/media.sh                       # release build, 10 s a phase
#   DURATION=5 CLIENTS=8 QUEUED=32 benches/media.sh
#   PROFILE=release-lto benches/media.sh
#
# MEDIA_CONCURRENCY (default: the server's, half the cores) and MEDIA_QUEUE
# (default here 64, so that no upload is shed) shape the pool.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILE=${PROFILE:-release}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
QUEUED=${QUEUED:-32}
ME_CONNECTIONS=${ME_CONNECTIONS:-8}
PORT=${PORT:-18087}
URL="http://127.0.0.1:$PORT/graphql"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The JPEG's writer under `cargo bench`'s own profile: what makes the file
# does not matter, and that build is there already after a `cargo bench`.
BENCH=$(cargo bench -q --bench media --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "media" and m.get("executable"):
        print(m["executable"])')
cargo build -q --profile "$PROFILE"
"$BENCH" --bench write "$WORK/photo.jpg"

mkdir -p "$WORK/media"
export DATABASE_URL="sqlite://$WORK/sns.db?mode=rwc" BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
export JWT_SECRET=${JWT_SECRET:-media-bench-secret-0123456789abcdef}
export MEDIA_STORE="file://$WORK/media" MEDIA_QUEUE=${MEDIA_QUEUE:-64}
export UPLOAD_LIMIT=${UPLOAD_LIMIT:-1000000/1s} RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}
"$TARGET/$PROFILE/sns-api" serve >> "$WORK/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.01
done
TOKEN=$(curl -sf -H 'content-type: application/json' "$URL" \
  -d '{"query":"mutation { register(input: {email: \"m@example.com\", password: \"correct-horse-battery\"}) { accessToken } }"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
export TOKEN
cat "$ROOT/benches/wrk/check.lua" "$ROOT/benches/wrk/gql_me.lua" > "$WORK/me.lua"
OPERATIONS='{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { media { id width height } errors { code } } }","variables":{"f":null}}'

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }

# One client: uploads until $1 (epoch ns), a line "ok|bad seconds" each.
client() {
  local until=$1 out=$2 body
  while [ "$(date +%s%N)" -lt "$until" ]; do
    body=$(curl -s -w ' %{http_code} %{time_total}' -H "authorization: Bearer $TOKEN" \
      -H 'GraphQL-Require-Preflight: 1' --form-string "operations=$OPERATIONS" \
      --form-string 'map={"0":["variables.f"]}' -F "0=@$WORK/photo.jpg;type=image/jpeg" "$URL")
    case $body in
      *'"width":2048,"height":1536'*' 200 '*) echo "ok ${body##* }" ;;
      *) echo "bad ${body: -40}" ;;
    esac >> "$out"
  done
}

# `me` for DURATION seconds: "req/s p99_ms".
me() {
  local out bad
  out=$(wrk -t1 -c"$ME_CONNECTIONS" -d"${DURATION}s" -s "$WORK/me.lua" "$URL")
  bad=$(awk '/^BAD_RESPONSES/ {print $2}' <<< "$out")
  [ "$bad" = 0 ] || { echo "me: $bad bad responses" >&2; exit 1; }
  awk '/^RPS/ {r=$2} /^P99_MS/ {p=$2} END {printf "%.0f %.1f", r, p}' <<< "$out"
}

# One phase with $1 upload clients (0: `me` alone).
phase() {
  local clients=$1 until peak=0 rss me_figures
  rm -f "$WORK"/client.*
  : > "$WORK/client.0"
  # Resets VmHWM, so that it is this phase's peak.
  echo 5 > "/proc/$PID/clear_refs" 2>/dev/null || true
  until=$(( $(date +%s%N) + DURATION * 1000000000 ))
  local pids=()
  for c in $(seq 1 "$clients"); do client "$until" "$WORK/client.$c" & pids+=($!); done
  me > "$WORK/me.out" &
  local me_pid=$!
  while [ "$(date +%s%N)" -lt "$until" ]; do
    rss=$(kib VmRSS)
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.05
  done
  # Not a bare `wait`: the server is a child too.
  wait "$me_pid" ${pids[@]+"${pids[@]}"}
  me_figures=$(cat "$WORK/me.out")
  local ok bad p50
  ok=$(cat "$WORK"/client.* 2>/dev/null | grep -c '^ok' || true)
  bad=$(cat "$WORK"/client.* 2>/dev/null | grep -c '^bad' || true)
  p50=$(cat "$WORK"/client.* 2>/dev/null | awk '/^ok/ {print $2}' | sort -n \
    | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int((NR+1)/2)]; else print "-"}')
  printf '%-16s %8s %6s %8s %10s %10s %8s %8s\n' "$clients uploading" "$ok" "$bad" \
    "$(awk -v n="$ok" -v d="$DURATION" 'BEGIN {printf "%.2f", n/d}')" "$p50" \
    "$(( $(kib VmHWM) / 1024 ))" "$(( peak / 1024 ))" "$me_figures"
  [ "$bad" = 0 ] || { echo "bad answers:"; cat "$WORK"/client.* | grep '^bad' | sort | uniq -c | head -5; }
}

echo "input $(stat -c %s "$WORK/photo.jpg") bytes; $PROFILE; MEDIA_CONCURRENCY=${MEDIA_CONCURRENCY:-default} MEDIA_QUEUE=$MEDIA_QUEUE; $(nproc) cores"
echo "idle RSS $(( $(kib VmRSS) / 1024 )) MiB"
printf '%-16s %8s %6s %8s %10s %10s %8s %8s\n' phase uploads bad upl/s p50_s hwm_MiB rss_MiB 'me req/s p99_ms'
phase 0
phase "$CLIENTS"
phase "$QUEUED"
