-- `login` at a fixed rate, open loop (wrk2's way, with plain wrk): each
-- request has a slot on a schedule of RATE a second, is sent no earlier than
-- its slot, and its latency is measured from the slot, not from when it was
-- sent, so a slow answer that delays the next request still counts in full.
-- A request's slot travels as the alias of its `login` field (`s42: login`),
-- which the answer echoes. Used by benches/mfa_login.sh with -t1.
--
-- env: KIND (plain: every answer must hold an access token; totp: a ticket
-- and MFA_REQUIRED), ACCOUNTS accounts EMAIL_PREFIX-KIND-i@example.com with
-- PASSWORD, taken in turn; RATE; LAT_FILE, where done() writes one latency
-- (ms) a line, then "ok N" and "bad N".
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } mfa_timespec;
  int clock_gettime(int clk, mfa_timespec *ts);
]]
local ts = ffi.new("mfa_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local kind = os.getenv("KIND")
local accounts = tonumber(os.getenv("ACCOUNTS"))
local prefix = os.getenv("EMAIL_PREFIX")
local password = os.getenv("PASSWORD")
local interval = 1000 / tonumber(os.getenv("RATE"))

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread) table.insert(threads, thread) end

-- Per thread (one): the schedule, the slots claimed and not yet sent (in
-- order: wrk sends in the order the delays end), and those in flight.
local start, next_slot = nil, 0
local claimed, first, last = {}, 1, 0
local in_flight = {}
lat, ok, bad = {}, 0, 0

function delay()
  start = start or now_ms()
  local at = start + next_slot * interval
  last = last + 1
  claimed[last] = { next_slot, at }
  next_slot = next_slot + 1
  return math.max(0, math.floor(at - now_ms()))
end

function request()
  local slot, at
  if first <= last then
    slot, at = claimed[first][1], claimed[first][2]
    claimed[first] = nil
    first = first + 1
  else -- a request wrk sends without asking delay() first
    start = start or now_ms()
    slot, at = next_slot, now_ms()
    next_slot = next_slot + 1
  end
  in_flight[slot] = at
  local email = string.format("%s-%s-%d@example.com", prefix, kind, slot % accounts)
  return wrk.format(nil, nil, nil, string.format(
    '{"query":"mutation($i: LoginInput!){ s%d: login(input: $i) { accessToken mfaTicket errors { code } } }",'
      .. '"variables":{"i":{"email":"%s","password":"%s"}}}', slot, email, password))
end

function response(status, headers, body)
  local slot = tonumber(string.match(body, '"s(%d+)":'))
  local at = slot and in_flight[slot]
  if at then
    in_flight[slot] = nil
    lat[#lat + 1] = now_ms() - at
  end
  local good
  if kind == "totp" then
    good = string.find(body, '"mfaTicket":"', 1, true) and string.find(body, '"MFA_REQUIRED"', 1, true)
  else
    good = string.find(body, '"accessToken":"', 1, true) and string.find(body, '"errors":[]', 1, true)
  end
  if status == 200 and at and good then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("LAT_FILE"), "w"))
  local n_ok, n_bad = 0, 0
  for _, t in ipairs(threads) do
    for _, ms in ipairs(t:get("lat")) do out:write(string.format("%.3f\n", ms)) end
    n_ok, n_bad = n_ok + t:get("ok"), n_bad + t:get("bad")
  end
  out:write(string.format("ok %d\nbad %d\n", n_ok, n_bad))
  out:close()
end
