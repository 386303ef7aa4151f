-- wrk script for bench:ofrep: POSTs OFREP evaluations, cycling through requests prepared once
-- per thread (so the load generator spends its time sending, not building requests), and prints
-- one JSON line with what the benchmark reads.
--
-- Environment (wrk passes no arguments to an init with a URL-only command line):
--   OFREP_PATHS   file with one request path per line (single evaluation: one per flag key;
--                 bulk: the bulk path once)
--   OFREP_TOKEN   bearer token, when the server requires one
--   OFREP_USERS   distinct evaluation contexts to cycle through (default 1000)
--   OFREP_ADDRS   host:port,host:port,... (optional): thread i sends to address i (round-robin),
--                 so `wrk -t2` loads two replicas at once, as a Service spreads connections

local thread_count = 0

function setup(thread)
  local addrs = os.getenv("OFREP_ADDRS")
  if not addrs or addrs == "" then return end
  local list = {}
  for a in addrs:gmatch("[^,]+") do list[#list + 1] = a end
  thread_count = thread_count + 1
  local host, port = list[((thread_count - 1) % #list) + 1]:match("^(.+):(%d+)$")
  thread.addr = wrk.lookup(host, port)[1]
end

local paths = {}
local requests = {}
local n = 0

local function read_paths(file)
  local out = {}
  for line in io.lines(file) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

function init(args)
  paths = read_paths(os.getenv("OFREP_PATHS"))
  local token = os.getenv("OFREP_TOKEN")
  local users = tonumber(os.getenv("OFREP_USERS") or "1000")
  local headers = { ["Content-Type"] = "application/json" }
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local countries = { "de", "at", "fr", "us", "jp" }
  -- As many prepared requests as needed to cover every path and a spread of users.
  local count = math.max(#paths, 1024)
  for i = 1, count do
    local u = (i * 7919) % users
    local body = string.format(
      '{"context":{"targetingKey":"user-%d","email":"user-%d@%s","country":"%s","plan":"%s"}}',
      u, u, (u % 10 == 0) and "example.com" or "mail.test", countries[(u % #countries) + 1],
      (u % 3 == 0) and "pro" or "free")
    requests[i] = wrk.format("POST", paths[((i - 1) % #paths) + 1], headers, body)
  end
end

function request()
  n = n + 1
  if n > #requests then n = 1 end
  return requests[n]
end

function done(summary, latency, _)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,' ..
    '"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
