-- wrk script: POST /v1/events with 1000 events per request as
-- application/x-ndjson, a unique Idempotency-Key per request. Used by
-- tests/bench/bench_gateway.sh.
local token = os.getenv("REFOLD_BENCH_TOKEN")
local n = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local line = '{"type":"share","program_id":"shop","referrer":"alice","channel":"email",' ..
             '"occurred_at":1767571200000}\n'
local body = string.rep(line, 1000)
function request()
  n = n + 1
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "application/x-ndjson",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "ndjson-" .. tid .. "-" .. n,
  }, body)
end
