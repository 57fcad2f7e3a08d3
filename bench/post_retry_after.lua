-- wrk script: POST /predict like post.lua, as a client that honours Retry-After: after a
-- response carrying it (the server's 503 when it sheds load), the connection waits that many
-- seconds before its next request, as an SDK or a well-behaved caller does. (post.lua is the
-- other kind: it sends the next request at once, whatever the answer.)
--
-- It also times every request itself, per status, which wrk cannot: each request carries its
-- send time (CLOCK_MONOTONIC, microseconds) as X-Request-Id, the server echoes that header on
-- every answer, and response() subtracts. So "p99 of the answered requests" is exact, not
-- mixed with the refusals' fast 503s. wrk's own latency (all statuses) is printed too.
--
-- Usage: wrk -s post_retry_after.lua URL -- BODIES_FILE
-- done() prints one line, `BENCH_JSON {...}`, the fields of post.lua's plus "by_status".
-- Scripting API: https://github.com/wg/wrk/blob/master/SCRIPTING (delay() runs, per
-- connection, between a response and that connection's next request).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000000 + math.floor(tonumber(now_ts.tv_nsec) / 1000)
end

-- Latency histogram per status: 10 us buckets to 10 ms, then 1 ms buckets to 60 s.
local function bucket(us)
  if us < 10000 then return math.floor(us / 10) end
  return 1000 + math.floor((us - 10000) / 1000)
end
local function bucket_upper_us(index)
  if index < 1000 then return (index + 1) * 10 end
  return 10000 + (index - 1000 + 1) * 1000
end

local heads, tails = {}, {}
local next_index = 1
-- Per thread (wrk gives each thread its own Lua state); done() collects them with t:get().
-- Flat tables only: wrk's t:get() crashed copying a table of tables (Debian's wrk 4.1.0).
STATUS_STRIDE = 100000
hist = {}          -- hist[status * STATUS_STRIDE + bucket] = count
counts = {}        -- counts[status] = responses
max_us = {}        -- max_us[status] = slowest
unmatched = 0      -- responses without our X-Request-Id (cannot be timed)
backoffs = 0       -- Retry-After waits taken
local pending_waits = {}  -- Retry-After seconds, in response order; delay() takes them in turn
local waits_head, waits_tail = 1, 0

function init(args)
  local path = assert(args[1], "usage: wrk -s post_retry_after.lua URL -- BODIES_FILE")
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if #line > 0 then
      local request = wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Request-Id"] = "@"}, line)
      local at = request:find("X-Request-Id: @", 1, true)
      heads[#heads + 1] = request:sub(1, at + #"X-Request-Id: " - 1)
      tails[#tails + 1] = request:sub(at + #"X-Request-Id: @")
    end
  end
  file:close()
  assert(#heads > 0, "no request bodies in " .. path)
end

function request()
  -- wrk also calls request() once in its main Lua state, where init() never ran, to check
  -- the request parses: answer a plain one there.
  if #heads == 0 then return wrk.format() end
  local i = next_index
  next_index = next_index % #heads + 1
  return heads[i] .. now_us() .. tails[i]
end

function response(status, headers, body)
  local sent = tonumber(headers["x-request-id"] or headers["X-Request-Id"] or "")
  if sent == nil then
    unmatched = unmatched + 1
  else
    local took = now_us() - sent
    local key = status * STATUS_STRIDE + bucket(took)
    hist[key] = (hist[key] or 0) + 1
    counts[status] = (counts[status] or 0) + 1
    if took > (max_us[status] or 0) then max_us[status] = took end
  end
  local retry_after = tonumber(headers["retry-after"] or headers["Retry-After"] or "")
  -- delay() is called once per response, for the connection that got it, in the order the
  -- responses completed; a FIFO hands each Retry-After to the delay() of its own response.
  waits_tail = waits_tail + 1
  pending_waits[waits_tail] = retry_after or 0
end

function delay()
  if waits_head > waits_tail then return 0 end
  local seconds = pending_waits[waits_head]
  pending_waits[waits_head] = nil
  waits_head = waits_head + 1
  if seconds > 0 then
    backoffs = backoffs + 1
    return seconds * 1000
  end
  return 0
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local function percentile(h, total, q)
  local wanted = math.max(1, math.ceil(total * q / 100))
  local keys = {}
  for k in pairs(h) do keys[#keys + 1] = k end
  table.sort(keys)
  local seen = 0
  for _, k in ipairs(keys) do
    seen = seen + h[k]
    if seen >= wanted then return bucket_upper_us(k) end
  end
  return 0
end

function done(summary, latency, requests)
  local merged, total, slowest, lost, waits = {}, {}, {}, 0, 0
  for _, t in ipairs(threads) do
    lost = lost + t:get("unmatched")
    waits = waits + t:get("backoffs")
    for key, n in pairs(t:get("hist")) do
      local status = math.floor(key / STATUS_STRIDE)
      local m = merged[status] or {}
      merged[status] = m
      local b = key - status * STATUS_STRIDE
      m[b] = (m[b] or 0) + n
    end
    for status, n in pairs(t:get("counts")) do total[status] = (total[status] or 0) + n end
    for status, us in pairs(t:get("max_us")) do
      if us > (slowest[status] or 0) then slowest[status] = us end
    end
  end
  local parts = {}
  for status, h in pairs(merged) do
    parts[#parts + 1] = string.format('"%d":{"count":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d}', status,
      total[status], percentile(h, total[status], 50), percentile(h, total[status], 99),
      percentile(h, total[status], 99.9), slowest[status])
  end
  local e = summary.errors
  local function p(q) return latency:percentile(q) end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"by_status":{%s},"untimed":%d,"retry_after_waits":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.min, latency.mean, latency.max, p(50), p(90), p(99), p(99.9),
    table.concat(parts, ","), lost, waits))
end
