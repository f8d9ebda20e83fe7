-- wrk script for benches/events_load.sh: POSTs PortConnect container visit events to
-- /events/portconnect, a new batch of LOOKOUT_EVENTS_BATCH (100) events per request.
--
-- Environment (set by events_load.sh):
--   LOOKOUT_EVENTS_TOKEN  the X-WebhookToken (the server's LOOKOUT_PORTCONNECT_TOKEN)
--   LOOKOUT_EVENTS_BATCH  events per request (100)
--   LOOKOUT_EVENTS_SEED   a number that makes this run's events differ from any other
--                         run's (default: the time), so nothing is a duplicate
--   LOOKOUT_EVENTS_SAMPLE when set, the file to write one batch to (for the script's
--                         checks with curl), as the first request would send it
--
-- The events look like the documented example (tests/data/portconnect-doc-example.json):
-- every field, camelCase, exports (GATEIN, EXPORTCLEARED, LOAD, ...: outbound vessel) and
-- imports (DISCHARGE, CUSTOMSRELEASE, AVAILABLE, GATEOUT, ...: inbound vessel) at four New
-- Zealand ports, container numbers with their ISO 6346 check digit. Every request is a
-- distinct batch: its subscriptionEventId is unique in the run (thread number × 10^5 +
-- the thread's request count, plus a digit of the seed), its container serials and event
-- times move on with the request count. lookout drops duplicates by content, so this is
-- what makes each request store 100 new events. Container serials are scattered
-- (k × 7919 mod 10^6, a bijection), as a subscription's containers are: consecutive ones
-- would land on the same index pages and flatter the store.
--
-- Generation is one string.format per event over a format string built once per item
-- position; the constant fields are baked into it.
--
-- done() prints one machine-readable line starting with LOOKOUT_RESULT: requests, 2xx
-- answers, events the answers said were stored / duplicates, non-2xx, latency percentiles.

local token = os.getenv("LOOKOUT_EVENTS_TOKEN")
if token == nil or token == "" then
  error("set LOOKOUT_EVENTS_TOKEN (benches/events_load.sh does)")
end
local batch = tonumber(os.getenv("LOOKOUT_EVENTS_BATCH") or "100")
local seed = tonumber(os.getenv("LOOKOUT_EVENTS_SEED") or tostring(os.time()))
local sample_path = os.getenv("LOOKOUT_EVENTS_SAMPLE")

-- One template per position in the batch. The slots, in order: subscriptionEventId (%d),
-- containerVisitEventDatetime (%s), containerNumber (%s), containerVisitUri's id (%d),
-- subscriptionContainerId (%d).
local ports = { "NZAKL", "NZTRG", "NZLYT", "NZPOE" }
local owners = { "MSCU", "MAEU", "CMAU", "HLXU", "OOLU", "TGHU", "APHU", "MEDU", "TCLU", "SEGU", "ONEU", "EGHU" }
local iso_types = { "45G1", "22G1", "45R1", "2210", "4510", "22R1" }
local exports = { "GATEIN", "EXPORTCLEARED", "LOAD", "VBSCHANGED", "PRIORITYGATEIN", "DEPART" }
local imports = { "DISCHARGE", "CUSTOMSRELEASE", "CLEARED", "AVAILABLE", "PINAVAILABLE", "GATEOUT", "LFT24HOURS" }
local vessels = {
  { ref = "KOC0130", name = "KOTA LOCENG", imo = 9628336 },
  { ref = "MSC2214", name = "MSC ANTONELLA", imo = 9398424 },
  { ref = "AKL4471", name = "AOTEA MAERSK", imo = 9440825 },
  { ref = "SPW0907", name = "SPIRIT OF WELLINGTON", imo = 9321718 },
  { ref = "CPT1202", name = "CAPE TAINARO", imo = 9444730 },
}
local values = { "Road", "Rail", "Vessel" }

local function json_string(s)
  if s == nil then return "null" end
  return '"' .. s .. '"'
end

local templates = {}
for i = 1, batch do
  local export = (i % 2 == 1)
  local port = ports[(i % #ports) + 1]
  local half = math.floor((i - 1) / 2)
  local code = export and exports[(half % #exports) + 1] or imports[(half % #imports) + 1]
  local vessel = vessels[(i % #vessels) + 1]
  local inbound, outbound = nil, nil
  if export then outbound = vessel else inbound = vessel end
  local parts = {
    '{"subscriptionEventId":%d,"subscriptionId":9,',
    '"partnerPortCode":', json_string(port), ',',
    '"containerVisitTypeCode":', json_string(export and "EXPORT" or "IMPORT"), ',',
    '"containerVisitEventTypeCode":', json_string(code), ',',
    '"containerVisitEventDatetime":"%s",',
    '"containerVisitEventLocation":', json_string(port), ',',
    '"containerNumber":"%s",',
    '"containerIsoTypeCode":', json_string(iso_types[(i % #iso_types) + 1]), ',',
    '"containerVisitUri":"v1/container-visits/%d",',
    '"subscriptionContainerId":%d,',
    '"userDefinedReference":', json_string("PO-" .. string.format("%05d", 40000 + i * 7)), ',',
    '"containerVisitEventValue":', json_string(values[(i % #values) + 1]), ',',
    '"containerVisitEventValue2":', json_string("REL" .. (300 + i % 50)), ',',
    '"inboundVesselRef":', json_string(inbound and inbound.ref), ',',
    '"inboundVesselName":', json_string(inbound and inbound.name), ',',
    '"inboundVesselIMONumber":', inbound and tostring(inbound.imo) or "null", ',',
    '"outboundVesselRef":', json_string(outbound and outbound.ref), ',',
    '"outboundVesselName":', json_string(outbound and outbound.name), ',',
    '"outboundVesselIMONumber":', outbound and tostring(outbound.imo) or "null", ',',
    '"bookingReference":', json_string(export and string.format("ACD%07d", 764410 + i) or nil), ',',
    '"containerStatus":', json_string((i % 5 == 0) and "Empty" or "Full"), ',',
    '"containerOperatorSCACCode":', json_string(string.sub(owners[(i % #owners) + 1], 1, 3) .. "N"),
    '}',
  }
  templates[i] = { format = table.concat(parts), owner = owners[(i % #owners) + 1] }
end

-- ISO 6346 check digit of a 4-letter owner code + 6-digit serial (letters count 10..38,
-- skipping multiples of 11).
local letter_value = {}
do
  local v = 10
  for c = string.byte("A"), string.byte("Z") do
    if v % 11 == 0 then v = v + 1 end
    letter_value[c] = v
    v = v + 1
  end
end
local function container_number(owner, serial)
  local digits = string.format("%06d", serial % 1000000)
  local s = owner .. digits
  local sum, weight = 0, 1
  for k = 1, 10 do
    local b = string.byte(s, k)
    local v = (b >= 48 and b <= 57) and (b - 48) or letter_value[b]
    sum = sum + v * weight
    weight = weight * 2
  end
  return s .. tostring(sum % 11 % 10)
end

-- Event times: from 2026-01-01T00:00:00+12:00 on (plus up to 1,000 days by the seed, 30
-- per wrk thread), six seconds per event, in local time
-- +12:00 (as PortConnect's New Zealand ports send them). os.date("!...") formats UTC, so
-- the offset is added first.
local base_time = 1767182400 + (seed % 1000) * 86400
local function nz_time(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", t + 12 * 3600) .. "+12:00"
end

local function make_batch(thread_id, n)
  -- Below 2^31 (LuaJIT's %d): 10^8 + seed digit × 10^7 + thread × 10^5 + request count.
  assert(n < 100000, "more than 100,000 requests on one wrk thread; raise the ranges in events.lua")
  local request_id = 100000000 + (seed % 10) * 10000000 + thread_id * 100000 + n
  local events = {}
  for i = 1, batch do
    local t = templates[i]
    local k = n * batch + i
    events[i] = string.format(t.format,
      request_id,
      nz_time(base_time + thread_id * 30 * 86400 + k * 6),
      container_number(t.owner, (k * 7919 + thread_id * 100003) % 1000000),
      5000000 + (thread_id * 1000000 + k) % 90000000,
      k % 1000000 + 1)
  end
  return "[" .. table.concat(events, ",") .. "]"
end

if sample_path ~= nil and sample_path ~= "" then
  -- Thread number 99: a batch no benchmark thread sends.
  local file = assert(io.open(sample_path, "wb"))
  file:write(make_batch(99, 0))
  file:close()
end

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  ok = 0
  non2xx = 0
  stored = 0
  duplicates = 0
  first_bad = ""
  bytes_sent = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["X-WebhookToken"] = token,
  }
end

function request()
  local body = make_batch(thread_id, sent)
  sent = sent + 1
  bytes_sent = bytes_sent + #body
  return wrk.format("POST", nil, headers, body)
end

function response(status, resp_headers, resp_body)
  if status >= 200 and status <= 299 then
    ok = ok + 1
    local s = string.match(resp_body or "", '"stored"%s*:%s*(%d+)')
    local d = string.match(resp_body or "", '"duplicates"%s*:%s*(%d+)')
    stored = stored + (tonumber(s) or 0)
    duplicates = duplicates + (tonumber(d) or 0)
  else
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(resp_body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local answered_ok, bad, s, d, n_sent, b = 0, 0, 0, 0, 0, 0
  local example = ""
  for _, thread in ipairs(threads) do
    answered_ok = answered_ok + thread:get("ok")
    bad = bad + thread:get("non2xx")
    s = s + thread:get("stored")
    d = d + thread:get("duplicates")
    n_sent = n_sent + thread:get("sent")
    b = b + thread:get("bytes_sent")
    local e = thread:get("first_bad")
    if example == "" and e ~= nil then example = e end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("2xx answers: %d, non-2xx: %d, events stored (as answered): %d, duplicates: %d\n", answered_ok, bad, s, d))
  if example ~= "" then
    io.write("first non-2xx answer: " .. example .. "\n")
  end
  io.write(string.format(
    "LOOKOUT_RESULT requests=%d seconds=%.3f rps=%.1f ok=%d ok_rps=%.1f events_per_s=%.1f stored=%d duplicates=%d sent=%d batch_bytes=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, seconds, summary.requests / seconds, answered_ok, answered_ok / seconds,
    batch * answered_ok / seconds, s, d, n_sent, n_sent > 0 and b / n_sent or 0,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, e.status, e.connect, e.read, e.write, e.timeout))
end
