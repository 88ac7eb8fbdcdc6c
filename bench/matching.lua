-- wrk script: GET /v1/demands/{id}/matches, rotating over the demand ids that
-- scripts/bench-matching created (BENCH_DEMANDS, comma-separated) with the partner's token.
local token = os.getenv("BENCH_TOKEN")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_DEMANDS"), "%d+") do ids[#ids + 1] = id end
local i = 0
local thread_id = 0

setup = function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

request = function()
  i = i + 1
  local id = ids[((i * 7 + (tid or 0) * 13) % #ids) + 1]
  return wrk.format("GET", "/v1/demands/" .. id .. "/matches", { ["Authorization"] = "Bearer " .. token })
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d errors=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
