-- The summary line every wrk script of the suite ends with (bench/suite.py and the bench-*
-- scripts read it): `report.done` counts non-2xx answers as errors; `report.done_split` reports
-- socket errors and non-2xx answers apart (the write scenarios, where a 409 is an answer).
local report = {}

local function socket_errors(summary)
  return summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
end

local function latencies(latency)
  return latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000
end

report.done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d errors=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status + socket_errors(summary), summary.requests / (summary.duration / 1e6),
    latencies(latency)))
end

report.done_split = function(label)
  return function(summary, latency, requests)
    io.write(string.format("BENCH requests=%d " .. label .. "=%d non2xx=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n",
      summary.requests, socket_errors(summary), summary.errors.status, summary.requests / (summary.duration / 1e6),
      latencies(latency)))
  end
end

return report
