-- wrk script for tests/load/run: POST /api/v1/checkins as kiosks do, rotating over the
-- demo site's concerns and languages, and counting answers that are not 201 Created.

local services = { "residence", "work", "housing", "naturalisation", "general" }
local languages = { "de", "en", "uk", "ar", "tr" }
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  created = 0
  refused = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format('{"service":"%s","language":"%s"}',
    services[(n % #services) + 1], languages[(n % #languages) + 1])
  return wrk.format("POST", "/api/v1/checkins", nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local c, r = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    r = r + t:get("refused")
  end
  io.write(string.format("created=%d\nrefused=%d\n", c, r))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%s_us=%d\n", p, latency:percentile(p)))
  end
  io.write(string.format("max_us=%d\n", latency.max))
  io.write(string.format("socket_errors=%d\n",
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
