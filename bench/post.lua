-- wrk script: POST /predict with JSON bodies read from a file, one body per line
-- (path given after `--`), cycling through them so the server sees distinct rows.
-- done() prints the exact figures as one line, `BENCH_JSON {...}`, which
-- bench/load.py parses; wrk's own text summary rounds and is left for humans.
-- Scripting API: https://github.com/wg/wrk/blob/master/SCRIPTING

local prepared = {}
local next_index = 1

function init(args)
  local path = assert(args[1], "usage: wrk -s post.lua URL -- BODIES_FILE")
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if #line > 0 then
      -- Requests are formatted once here, so request() costs nothing while measuring.
      prepared[#prepared + 1] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, line)
    end
  end
  file:close()
  assert(#prepared > 0, "no request bodies in " .. path)
end

function request()
  local req = prepared[next_index]
  next_index = next_index % #prepared + 1
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  local function p(q) return latency:percentile(q) end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.min, latency.mean, latency.max, p(50), p(90), p(99), p(99.9)))
end
