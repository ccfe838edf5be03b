-- wrk script: POST /v1/events with one JSON event per request, a unique
-- Idempotency-Key per request (thread id + counter), the app token from
-- $REFOLD_BENCH_TOKEN. Used by tests/bench/bench_gateway.sh.
local token = os.getenv("REFOLD_BENCH_TOKEN")
local n = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local body = '{"type":"share","program_id":"shop","referrer":"alice","channel":"email",' ..
             '"occurred_at":1767571200000}'
function request()
  n = n + 1
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "single-" .. tid .. "-" .. n,
  }, body)
end
