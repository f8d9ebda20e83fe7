-- wrk script for benches/log_load.sh with EDITS=1: POSTs estimates as analysts edit them.
--
-- Environment (set by log_load.sh):
--   LOOKOUT_LOAD_MANIFEST  a file of lines "<estimate> <step> <body path> <signature>"
--                          (benches/edits.py writes the bodies, `lookout sign` signs them)
--
-- Each wrk thread takes the estimates e with e % threads == its number and sends them
-- in turn, each estimate one edit further every time (after the last edit it starts
-- again at the first), so consecutive calls of one estimate differ as consecutive edits
-- do. Answers are counted like benches/load.lua, with the same LOOKOUT_RESULT line.

local manifest = os.getenv("LOOKOUT_LOAD_MANIFEST")
if manifest == nil then
  error("set LOOKOUT_LOAD_MANIFEST (benches/log_load.sh does)")
end

local threads = {}
local count = 0

function setup(thread)
  thread:set("number", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  answered = 0
  first_bad = ""
  local mine, steps = {}, 0
  local all = {}
  for line in io.lines(manifest) do
    local e, s, path, sig = line:match("^(%d+) (%d+) (%S+) (%S+)$")
    if e then table.insert(all, { tonumber(e), tonumber(s), path, sig }) end
  end
  local estimates = 0
  for _, item in ipairs(all) do
    if item[1] + 1 > estimates then estimates = item[1] + 1 end
    if item[2] + 1 > steps then steps = item[2] + 1 end
  end
  -- threads is only set in the main state: read the count from the environment
  local threads_n = tonumber(os.getenv("LOOKOUT_LOAD_THREADS") or "1")
  local by = {}
  for _, item in ipairs(all) do
    if item[1] % threads_n == number then
      local f = assert(io.open(item[3], "rb"))
      local body = f:read("*a")
      f:close()
      by[item[1] .. ":" .. item[2]] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["Veson-Webhook-Signature"] = item[4],
      }, body)
    end
  end
  requests_ = {}
  for s = 0, steps - 1 do
    for e = 0, estimates - 1 do
      local r = by[e .. ":" .. s]
      if r then table.insert(requests_, r) end
    end
  end
  if #requests_ == 0 then error("thread " .. number .. " has no estimates") end
  next_ = 1
end

function request()
  local r = requests_[next_]
  next_ = next_ % #requests_ + 1
  return r
end

function response(status, headers, resp_body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(resp_body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad, seen, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    seen = seen + thread:get("answered")
    local e = thread:get("first_bad")
    if example == "" and e ~= nil then example = e end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("non-2xx answers: %d of %d (wrk summary.errors.status = %d)\n", bad, seen, e.status))
  if example ~= "" then
    io.write("first non-2xx answer: " .. example .. "\n")
  end
  io.write(string.format(
    "LOOKOUT_RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d status_errors=%d connect=%d read=%d write=%d timeout=%d bytes=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, e.status, e.connect, e.read, e.write, e.timeout, summary.bytes))
end
