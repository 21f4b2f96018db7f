#!/usr/bin/env bash
# The load harness: builds the release-lto binary, starts it on a fresh SQLite
# file (or on DATABASE_URL), registers a user, runs the workloads of
# benches/wrk/ (wrk, and oha for the open-loop one), and prints one table
# with each figure beside its goal.
#
#   benches/load.sh                 # every workload, 10 s each
#   DURATION=5 benches/load.sh      # shorter
#   DATABASE_URL=postgres://… JWT_SECRET=… benches/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/benches/wrk}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT/graphql"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
command -v oha >/dev/null || { echo "installing oha"; cargo install oha --locked -q; }
[ -x /usr/bin/time ] || { echo "installing GNU time"; apt-get install -y -qq time >/dev/null; }
cargo build --profile release-lto -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release-lto/sns-api

WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export DATABASE_URL=${DATABASE_URL:-"sqlite://$WORK/bench.db?mode=rwc"}
export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
# The harness signs in thousands of times from one address, by design.
export RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}
export RATE_LIMIT_LOGIN_FAILURES=${RATE_LIMIT_LOGIN_FAILURES:-1000000/1s}

start_ns=$(date +%s%N)
"$BIN" > "$WORK/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.002
done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

export EMAIL="bench-$$@example.com" PASSWORD="correct-horse-battery"
TOKEN=$(curl -sf -H 'content-type: application/json' "$URL" -d "{\"query\":\"mutation(\$i: RegisterInput!){ register(input: \$i) { accessToken } }\",\"variables\":{\"i\":{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}}}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
export TOKEN

# Peak RSS of the server, sampled every 20 ms while $1 runs.
peak_during() {
  local out=$1; shift
  local peak=0
  "$@" &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.02
  done
  wait "$job"
  echo $(( peak / 1024 )) > "$out"
}

wrk_run() { # name script connections
  local script threads=2
  script=$(mktemp --suffix=.lua)
  cat "$BENCH_DIR/check.lua" "$BENCH_DIR/$2" > "$script"
  [ "$3" -lt 2 ] && threads=1
  # CPU time of the generator itself (user + system seconds) in $1.time.
  /usr/bin/time -f '%U %S' -o "$WORK/$1.time" \
    wrk -t"$threads" -c"$3" -d"${DURATION}s" -s "$script" "$URL" > "$WORK/$1.out" 2>&1 || { cat "$WORK/$1.out"; return 1; }
  rm -f "$script"
}
field() { awk -v k="$2" '$1 == k {print $2}' "$WORK/$1.out"; }

# One argon2 verify, timed by the binary itself, in this same run: at its
# start and end, and just before and just after each of the two login
# workloads that the hash-bound limit is for. The machine's speed drifts (on
# shared hosts: 17 to 21 ms within one run on one, 10.9 to 14.8 ms within a
# minute on another), so each of those ratios uses the mean of the two
# timings around its own workload.
# Each timing waits for the server's hashing threads to finish what the last
# workload left queued (up to HASH_QUEUE hashes: their CPU time stands still
# for 0.1 s), so that it never shares the cores with them.
settle() {
  local last=x now attempt
  for attempt in $(seq 1 50); do
    now=$( { cat /proc/"$PID"/task/*/stat 2>/dev/null || true; } | awk '$2 ~ /^\(argon2/ {s += $14 + $15} END {print s + 0}')
    [ "$now" = "$last" ] && return
    last=$now
    sleep 0.1
  done
  echo "settle: the hashing threads were still busy after ${attempt}00 ms; timing anyway" >&2
}
# (`verify --threads N`: the same, with N threads verifying at once.)
verify() { settle; "$BIN" hash-cost --rounds 20 "$@" | sed -E 's/.*median verify ([0-9.]+) ms.*/\1/'; }
mean() { python3 -c "print(round(($1 + $2) / 2, 2))"; }
median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
cores=$(nproc)
# The hash-bound limit (req/s) for a verify of $1 ms, and $1 req/s as a
# percentage of the limit for a verify of $2 ms.
limit_of() { python3 -c "print(round($cores * 1000 / $1, 1))"; }
ratio() { python3 -c "print(round(100 * $1 / $(limit_of "$2"), 1))"; }
verify_before=$(verify)

# CPU seconds (user + system) of the server's threads, by name: argon2-N
# (hashing), tokio-rt-worker (the async runtime), sqlx-sqlite-worker (one per
# SQLite connection), and the rest; and of the whole machine's idle time.
server_cpu() {
  local hz; hz=$(getconf CLK_TCK)
  # And how often they were switched out: voluntarily (blocked, to be woken
  # again) and involuntarily (preempted), as kind.vol and kind.invol.
  # (A thread that ended meanwhile reads as nothing, and is skipped.)
  for t in /proc/"$PID"/task/*; do
    printf '%s %s %s %s\n' "$(cat "$t/comm" 2>/dev/null)" "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)" \
      "$(awk '/^voluntary_ctxt/ {print $2}' "$t/status" 2>/dev/null)" \
      "$(awk '/^nonvoluntary_ctxt/ {print $2}' "$t/status" 2>/dev/null)"
  done | awk -v hz="$hz" 'NF >= 4 {
      n = $1; sub(/-[0-9]+$/, "", n)
      if (n ~ /^sqlx-sqlite/) n = "sqlite"
      else if (n != "argon2" && n != "tokio-rt-worker") n = "other"
      s[n] += $(NF-2) / hz; s[n ".vol"] += $(NF-1); s[n ".invol"] += $NF
    } END { for (k in s) print k, s[k] }'
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print "idle", ($5 + $6) / hz}' /proc/stat
}

wrk_run login1 gql_login.lua 1
wrk_run me gql_me.lua 32
login_v1=$(verify)
server_cpu > "$WORK/login.cpu.before"; login_start=$(date +%s%N)
wrk_run login gql_login.lua 16
server_cpu > "$WORK/login.cpu.after"; login_s=$(python3 -c "print(($(date +%s%N) - $login_start) / 1e9)")
login_v2=$(verify)
# Two more rounds of the same, each between two timings of its own. One
# round's ratio moves by several points with the host (81% to 90% in three
# runs on one machine, at the same login rate), so the goal is judged on the
# median of the three rounds, each printed beside it.
login_ratios="$(ratio "$(field login RPS)" "$(mean "$login_v1" "$login_v2")")"
for round in 2 3; do
  v1=$(verify)
  wrk_run "login$round" gql_login.lua 16
  v2=$(verify)
  login_ratios="$login_ratios $(ratio "$(field "login$round" RPS)" "$(mean "$v1" "$v2")")"
done
login_median=$(median $login_ratios)
wrk_run register gql_register.lua 16

# me at a steady 10,000/s (open loop) while 32 connections sign in.
storm_v1=$(verify)
server_cpu > "$WORK/storm_login.cpu.before"
storm_start=$(date +%s%N)
wrk_run storm_login gql_login.lua 32 &
storm=$!
sleep 0.5
# -w: a request still in flight when the duration ends is waited for, not
# counted as an error ("aborted due to deadline" is the client's doing).
/usr/bin/time -f '%U %S' -o "$WORK/storm_me.time" \
  oha --no-tui --output-format json -z "${DURATION}s" -w -q 10000 --latency-correction -c 16 -m POST \
  -T application/json -d '{"query":"{ me { id email } }"}' -H "Authorization: Bearer $TOKEN" "$URL" > "$WORK/storm_me.json"
wait "$storm"
server_cpu > "$WORK/storm_login.cpu.after"
storm_s=$(python3 -c "print(($(date +%s%N) - $storm_start) / 1e9)")
storm_v2=$(verify)
read -r storm_rps storm_p99 storm_bad < <(python3 - "$WORK/storm_me.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
bad = sum(v for k, v in codes.items() if k != "200") + sum(d.get("errorDistribution", {}).values())
p99 = d["latencyPercentiles"]["p99"] * 1000
print(f'{d["summary"]["requestsPerSec"]:.1f} {p99:.3f} {bad}')
PY
)

# Peak memory during a 256-connection login storm.
peak_during "$WORK/peak256" wrk_run login256 gql_login.lua 256

verify_after=$(verify)
# The same with every core verifying at once (shared caches and memory).
verify_all=$(verify --threads "$cores")
# What hashing alone, on every core at once and with nothing else running,
# reaches of the limit: one verify's time over the all-core one, in three
# back-to-back pairs (one pair moves by several points), the median. An
# estimate of the ceiling of both login ratios (16 connections, and during
# the storm) on this machine: cores that share caches or a physical core
# slow each other's hashes.
ceilings="$(python3 -c "print(round(100 * $verify_after / $verify_all, 1))")"
for pair in 2 3; do
  one=$(verify)
  all=$(verify --threads "$cores")
  ceilings="$ceilings $(python3 -c "print(round(100 * $one / $all, 1))")"
done
ceiling=$(median $ceilings)
verify_ms=$(mean "$verify_before" "$verify_after")
login_v=$(mean "$login_v1" "$login_v2") storm_v=$(mean "$storm_v1" "$storm_v2")
login_limit=$(limit_of "$login_v") storm_limit=$(limit_of "$storm_v")

pct() { python3 -c "print(f'{$1 / $2:.0%}')"; }
printf '\nmachine: %s, %s cores, %s; database: %s; %s s a workload\n\n' "$(uname -m)" "$cores" \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "${DATABASE_URL%%:*}" "$DURATION"
printf '%-34s %10s %9s %9s %5s\n' workload req/s p50_ms p99_ms bad
for w in login1 me login login2 login3 register storm_login login256; do
  printf '%-34s %10s %9s %9s %5s\n' "$w" "$(field $w RPS)" "$(field $w P50_MS)" "$(field $w P99_MS)" "$(field $w BAD_RESPONSES)"
done
printf '%-34s %10s %9s %9s %5s\n' "storm_me (oha, 10k/s open loop)" "$storm_rps" "-" "$storm_p99" "$storm_bad"

printf '\n%-44s %-14s %s\n' figure measured goal
printf '%-44s %-14s %s\n' "me, 32 connections (req/s; p99 ms)" "$(field me RPS); $(field me P99_MS)" ">= 40000; <= 3"
printf '%-44s %-14s %s\n' "one argon2 verify, run's start and end (ms)" "$verify_ms ($verify_before, $verify_after)" "-"
printf '%-44s %-14s %s\n' "one verify, all cores verifying at once (ms)" "$verify_all" "-"
printf '%-44s %-14s %s\n' "hashing alone, all cores / limit (pairs)" "$ceiling% ($(echo $ceilings | sed 's/ /, /g'))" "-"
printf '%-44s %-14s %s\n' "one verify, just before and after login (ms)" "$login_v ($login_v1, $login_v2)" "-"
printf '%-44s %-14s %s\n' "hash-bound limit = cores / that (req/s)" "$login_limit" "-"
printf '%-44s %-14s %s\n' "login, 16 connections (round 1) / limit" "$(pct "$(field login RPS)" "$login_limit")" "-"
printf '%-44s %-14s %s\n' "  the same, limit from start and end" "$(pct "$(field login RPS)" "$(limit_of "$verify_ms")")" "-"
printf '%-44s %-14s %s\n' "  the same, limit from all-core verify" "$(pct "$(field login RPS)" "$(limit_of "$verify_all")")" "-"
printf '%-44s %-14s %s\n' "login / limit, median of 3 rounds (each)" "$login_median% ($(echo $login_ratios | sed 's/ /, /g'))" ">= 90%"
printf '%-44s %-14s %s\n' "  that median / hashing alone, all cores" "$(python3 -c "print(round(100 * $login_median / $ceiling, 1))")%" "-"
printf '%-44s %-14s %s\n' "me during login storm (p99 ms; bad)" "$storm_p99; $storm_bad" "<= 5; 0"
printf '%-44s %-14s %s\n' "one verify, just before and after storm (ms)" "$storm_v ($storm_v1, $storm_v2)" "-"
printf '%-44s %-14s %s\n' "logins during storm / limit" "$(pct "$(field storm_login RPS)" "$storm_limit")" ">= 80%"
printf '%-44s %-14s %s\n' "  the same, limit from start and end" "$(pct "$(field storm_login RPS)" "$(limit_of "$verify_ms")")" "-"
printf '%-44s %-14s %s\n' "peak RSS, 256-connection login storm (MiB)" "$(cat "$WORK/peak256")" "<= 100"
printf '%-44s %-14s %s\n' "start to ready on an empty database (ms)" "$ready_ms" "<= 300"
printf '%-44s %-14s %s\n' "login alone, median (ms)" "$(field login1 P50_MS)" "-"

# Where the machine's time went during a login workload (% of one core; the
# machine has $cores x 100%), and what one login cost the hashing threads.
cpu_split() { # workload seconds verify-ms generators...
  # Every CPU of /proc/stat (its idle time covers them all), whatever nproc
  # allows this process.
  python3 - "$WORK" "$(grep -c '^cpu[0-9]' /proc/stat)" "$@" "$(field "$1" RPS)" "$DURATION" <<'PY'
import sys
work, cores, name, secs, verify, *gens, rps, duration = sys.argv[1:]
cores, secs = int(cores), float(secs)
# wrk's own count: its rate over its own duration (the window read here is a
# little longer: it also holds the start and the end of the other generator).
logins = float(rps) * float(duration)
read = lambda f: {k: float(v) for k, v in (l.split() for l in open(f"{work}/{f}"))}
before, after = read(f"{name}.cpu.before"), read(f"{name}.cpu.after")
# A thread that ended between the readings takes its time with it (and a
# kind whose threads all ended is missing from `after`).
used = {k: max(0.0, after.get(k, 0) - before.get(k, 0)) for k in after}
rows = [("server: argon2 hashing threads", used.get("argon2", 0)),
        ("server: async runtime workers", used.get("tokio-rt-worker", 0)),
        ("server: SQLite connection threads", used.get("sqlite", 0)),
        ("server: other threads", used.get("other", 0))]
for g in gens:
    label, f = g.split("=")
    rows.append((label, sum(map(float, open(f"{work}/{f}").read().split()[-2:]))))
rows.append(("idle", used.get("idle", 0)))
# What no row above names: a database server, kernel threads, anything else.
rows.insert(-1, ("rest of the machine", cores * secs - sum(r[1] for r in rows)))
for label, s in rows:
    print(f"  {label:<42} {100 * s / secs:6.1f}")
if logins > 0:
    per = 1000 * used.get("argon2", 0) / logins
    print(f"  {'hashing CPU per login (ms)':<42} {per:6.2f}   (one verify alone: {verify} ms)")
if logins > 0 and name == "login":
    # Hand-offs: each time a runtime or SQLite thread blocks, something must
    # wake it later, and each wake-up on a core that is hashing preempts a
    # hash. (Not shown for the storm, where the 10k me/s dominate them.)
    blocks = sum(used.get(f"{k}.vol", 0) for k in ("tokio-rt-worker", "sqlite"))
    print(f"  {'runtime + SQLite threads blocking, a login':<42} {blocks / logins:6.1f}")
    print(f"  {'hashing threads preempted, a login':<42} {used.get('argon2.invol', 0) / logins:6.1f}")
PY
}
printf '\nCPU during "login" (%% of one core; %s cores = %s%%)\n' "$cores" "$((cores * 100))"
cpu_split login "$login_s" "$login_v" "wrk=login.time"
printf '\nCPU during the storm: "storm_login" + 10k/s me (%% of one core)\n'
cpu_split storm_login "$storm_s" "$storm_v" "oha (10k/s me)=storm_me.time" "wrk (32-connection logins)=storm_login.time"

# What the server logged (with the default RUST_LOG=warn: its warnings and
# errors only), to tell a server-side failure from check.lua's own test, which
# counts as bad any body holding "null" or "fail": a random access token does,
# about once in 180,000.
logged=$(wc -l < "$WORK/server.log")
printf '\nserver log (RUST_LOG=%s): %s lines\n' "$RUST_LOG" "$logged"
head -n 5 "$WORK/server.log"
