-- wrk script for benches/load.sh: POSTs one signed estimate to /hooks/<ruleset>.
--
-- Environment (set by load.sh):
--   LOOKOUT_LOAD_BODY       path of the body file, sent byte for byte
--   LOOKOUT_LOAD_SIGNATURE  its Veson-Webhook-Signature (`lookout sign --key-env ...`)
--
-- done() prints the usual figures plus the count of non-2xx answers, and one
-- machine-readable line starting with LOOKOUT_RESULT that load.sh parses.

local body_path = os.getenv("LOOKOUT_LOAD_BODY")
local signature = os.getenv("LOOKOUT_LOAD_SIGNATURE")
if body_path == nil or signature == nil then
  error("set LOOKOUT_LOAD_BODY and LOOKOUT_LOAD_SIGNATURE (benches/load.sh does)")
end

local file = assert(io.open(body_path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Veson-Webhook-Signature"] = signature

-- Each wrk thread has its own Lua state; done() collects from them via setup().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  answered = 0
  first_bad = ""
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
