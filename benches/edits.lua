-- wrk script for benches/log_load.sh with EDITS=1: POSTs estimates as analysts edit them.
--
-- Environment (set by log_load.sh): those of benches/load.lua, and
--   LOOKOUT_LOAD_MANIFEST  a file of lines "<estimate> <step> <body path> <signature>"
--                          (benches/edits.py writes the bodies, `lookout sign` signs them)
--   LOOKOUT_LOAD_THREADS   wrk's -t
--
-- Each wrk thread takes the estimates e with e % threads == its number and sends them
-- in turn, each estimate one edit further every time (after the last edit it starts
-- again at the first), so consecutive calls of one estimate differ as consecutive edits
-- do. Answers are counted as benches/load.lua counts them, with the same LOOKOUT_RESULT
-- line.

-- The answers are counted by benches/load.lua's init(), response() and done(), loaded
-- here; its own request (the one sample) is replaced by request() below.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "load.lua")

local manifest = os.getenv("LOOKOUT_LOAD_MANIFEST")
if manifest == nil then
  error("set LOOKOUT_LOAD_MANIFEST (benches/log_load.sh does)")
end

local add_thread, start_counting = setup, init
local count = 0

function setup(thread)
  thread:set("number", count)
  count = count + 1
  add_thread(thread)
end

function init(args)
  start_counting(args)
  local steps, estimates = 0, 0
  local all = {}
  for line in io.lines(manifest) do
    local e, s, path, sig = line:match("^(%d+) (%d+) (%S+) (%S+)$")
    if e then table.insert(all, { tonumber(e), tonumber(s), path, sig }) end
  end
  for _, item in ipairs(all) do
    if item[1] + 1 > estimates then estimates = item[1] + 1 end
    if item[2] + 1 > steps then steps = item[2] + 1 end
  end
  -- the thread count is only known in the main state: it comes from the environment
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
