#!/usr/bin/env bash
# `login` with TOTP on beside plain `login`, in one run (issue 25's goal: no
# more than 5% slower; the password hash dominates both). Builds the release
# binary, starts it on a fresh SQLite file (or DATABASE_URL), registers
# ACCOUNTS accounts of each kind through the API and turns TOTP on for one
# kind (enrollTotp, then confirmTotp with a code computed here, RFC 6238),
# then alternates the two kinds, ROUNDS rounds of DURATION s each (ABBA, so
# a drift of the machine's speed weighs on both alike), each at the same
# fixed RATE, open loop (benches/wrk/mfa_login.lua: latency from each
# request's slot). Prints, for each kind, the server's CPU a login (its
# utime + stime from /proc over the logins /metrics counted; on PostgreSQL
# also that of the backends serving its database) and p50/p99, per round
# and over all rounds, and the ratios.
#
#   benches/mfa_login.sh                          # 20 + 20 accounts, 12 rounds of 5 s
#   RATE=40 ROUNDS=2 DURATION=5 benches/mfa_login.sh
#   BIN=/path/to/sns-api benches/mfa_login.sh     # that binary, nothing built
#   DATABASE_URL=postgres://… JWT_SECRET=… benches/mfa_login.sh
#
# RATE defaults to 25% of the hash-bound limit (cores / one Argon2id verify,
# timed by `sns-api hash-cost` before the run), so that neither kind queues
# even with other work on the machine; short rounds, many of them, spread
# that other work's bursts over both kinds. A round the server could not keep
# up in (other work saturating the cores) skews CPU a login: look at the
# rounds' p50 before trusting a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ACCOUNTS=${ACCOUNTS:-20}
ROUNDS=${ROUNDS:-12}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18083}
URL="http://127.0.0.1:$PORT/graphql"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sns-api
fi

WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export DATABASE_URL=${DATABASE_URL:-"sqlite://$WORK/bench.db?mode=rwc"}
export JWT_SECRET=${JWT_SECRET:-mfa-bench-secret-0123456789-abcdefghijkl}
export TOTP_ENCRYPTION_KEY=${TOTP_ENCRYPTION_KEY:-mfa-bench-totp-key-0123456789-abcdef}
export BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=${RUST_LOG:-warn}
# Thousands of sign-ins from one address, by design.
export RATE_LIMIT_AUTH_PER_IP=${RATE_LIMIT_AUTH_PER_IP:-1000000/1s}
export RATE_LIMIT_LOGIN_FAILURES=${RATE_LIMIT_LOGIN_FAILURES:-1000000/1s}

verify_ms=$("$BIN" hash-cost --rounds 20 | sed -E 's/.*median verify ([0-9.]+) ms.*/\1/')
cores=$(nproc)
RATE=${RATE:-$(python3 -c "print(max(1, round(0.25 * $cores * 1000 / $verify_ms)))")}

"$BIN" > "$WORK/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.02
done

export EMAIL_PREFIX="mfa-bench-$$" PASSWORD="correct-horse-battery" ACCOUNTS
echo "seeding $ACCOUNTS accounts with TOTP and $ACCOUNTS without"
python3 - "$URL" <<'PY'
import base64, hashlib, hmac, json, os, struct, sys, time, urllib.request

url = sys.argv[1]
prefix, password, n = os.environ["EMAIL_PREFIX"], os.environ["PASSWORD"], int(os.environ["ACCOUNTS"])

def call(query, variables=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as r:
        answer = json.load(r)
    if answer.get("errors"):
        sys.exit(f"{query.split('(')[0]}: {answer['errors']}")
    return answer["data"]

def totp(secret, step):  # RFC 6238: SHA-1, 6 digits, 30 s
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"

for kind in ("plain", "totp"):
    for i in range(n):
        email = f"{prefix}-{kind}-{i}@example.com"
        reg = call("mutation($i: RegisterInput!){ register(input: $i) { accessToken errors { code } } }",
                   {"i": {"email": email, "password": password}})["register"]
        if reg["errors"]:
            sys.exit(f"register {email}: {reg['errors']}")
        if kind == "plain":
            continue
        token = reg["accessToken"]
        secret = call("mutation { enrollTotp { secret } }", token=token)["enrollTotp"]["secret"]
        if 30 - time.time() % 30 < 2:  # not a code about to turn stale
            time.sleep(2)
        code = totp(secret, int(time.time() // 30))
        confirmed = call("mutation($c: String!){ confirmTotp(code: $c) { recoveryCodes errors { code } } }",
                         {"c": code}, token)["confirmTotp"]
        if confirmed["errors"] or len(confirmed["recoveryCodes"] or []) != 10:
            sys.exit(f"confirmTotp {email}: {confirmed}")
PY

# The CPU seconds of the PostgreSQL backends serving this database (0 on
# SQLite, which runs inside the server): the pool's connections, which live
# through the run.
db_cpu() {
  case $DATABASE_URL in postgres*) ;; *) echo 0; return ;; esac
  local total=0 t
  for pid in $(psql "$DATABASE_URL" -Atc "SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()"); do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && total=$((total + t))
  done
  python3 -c "print($total / $hz)"
}

# Waits until the server's threads have been idle for 0.2 s (what a round
# left queued is done), then prints its CPU seconds, the logins /metrics has
# counted and the database's CPU seconds.
hz=$(getconf CLK_TCK)
snapshot() {
  local last=x now
  for _ in $(seq 1 50); do
    now=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    [ "$now" = "$last" ] && break
    last=$now
    sleep 0.2
  done
  logins=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^logins_total\{/ {s += $2} END {print s + 0}')
  echo "$(python3 -c "print($now / $hz)") $logins $(db_cpu)"
}

run() { # kind round [seconds]
  local before after
  before=$(snapshot)
  KIND=$1 RATE=$RATE LAT_FILE="$WORK/$1.$2.lat" \
    wrk -t1 -c"$CONNECTIONS" -d"${3:-$DURATION}s" --timeout 30s -s benches/wrk/mfa_login.lua "$URL" > "$WORK/$1.$2.wrk" 2>&1 \
    || { cat "$WORK/$1.$2.wrk"; exit 1; }
  after=$(snapshot)
  echo "$before $after" > "$WORK/$1.$2.cpu"
}

echo "one verify ${verify_ms} ms, $cores cores; $RATE logins/s each kind, $ROUNDS rounds of ${DURATION} s"
# A first round of each, not counted: the first logins of a fresh server
# (its pools, caches and allocator warming up) cost more.
run plain 0 2
run totp 0 2
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 4)) = 1 ] || [ $((round % 4)) = 0 ]; then order="plain totp"; else order="totp plain"; fi
  for kind in $order; do run "$kind" "$round"; done
done

python3 - "$WORK" "$ROUNDS" <<'PY'
import statistics, sys

work, rounds = sys.argv[1], int(sys.argv[2])

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

total = {}
head = f"{'kind':<7}{'logins':>8}{'bad':>5}{'CPU ms/login':>14}{'db CPU ms':>11}{'p50 ms':>9}{'p99 ms':>9}"
print(f"\n{'round':<7}{head}")
for r in range(1, rounds + 1):
    for kind in ("plain", "totp"):
        lines = open(f"{work}/{kind}.{r}.lat").read().split("\n")
        lat = [float(l) for l in lines if l and l[0].isdigit()]
        counts = dict(l.split() for l in lines if l[:3] in ("ok ", "bad"))
        cpu0, n0, db0, cpu1, n1, db1 = map(float, open(f"{work}/{kind}.{r}.cpu").read().split())
        logins = n1 - n0
        cpu, db = 1000 * (cpu1 - cpu0) / logins, 1000 * (db1 - db0) / logins
        t = total.setdefault(kind, {"lat": [], "cpu": 0.0, "db": 0.0, "n": 0, "bad": 0, "per_round": []})
        t["lat"] += lat; t["cpu"] += cpu1 - cpu0; t["db"] += db1 - db0; t["n"] += logins
        t["bad"] += int(counts["bad"]); t["per_round"].append(cpu)
        print(f"{r:<7}{kind:<7}{int(logins):>8}{counts['bad']:>5}{cpu:>14.2f}{db:>11.2f}{pct(lat, 50):>9.1f}{pct(lat, 99):>9.1f}")

print(f"\n{'all':<7}{head}")
fig = {}
for kind in ("plain", "totp"):
    t = total[kind]
    fig[kind] = (1000 * t["cpu"] / t["n"], pct(t["lat"], 50), pct(t["lat"], 99), 1000 * t["db"] / t["n"])
    print(f"{'':<7}{kind:<7}{int(t['n']):>8}{t['bad']:>5}{fig[kind][0]:>14.2f}{fig[kind][3]:>11.2f}"
          f"{fig[kind][1]:>9.1f}{fig[kind][2]:>9.1f}")
ratios = [b / a for a, b in zip(total["plain"]["per_round"], total["totp"]["per_round"])]
cpu_ratio = fig["totp"][0] / fig["plain"][0]
print(f"\ntotp / plain: CPU a login {cpu_ratio:.3f} (rounds {', '.join(f'{x:.3f}' for x in ratios)}),"
      f" p50 {fig['totp'][1] / fig['plain'][1]:.3f}, p99 {fig['totp'][2] / fig['plain'][2]:.3f}")
if fig["plain"][3] > 0:
    both = (fig["totp"][0] + fig["totp"][3]) / (fig["plain"][0] + fig["plain"][3])
    print(f"server + database CPU a login: {both:.3f}")
    cpu_ratio = max(cpu_ratio, both)
print(f"goal: CPU a login at most 1.05 times plain: {'met' if cpu_ratio <= 1.05 else 'NOT met'}")
PY
logged=$(wc -l < "$WORK/server.log")
printf '\nserver log (RUST_LOG=%s): %s lines\n' "$RUST_LOG" "$logged"
head -n 5 "$WORK/server.log"
