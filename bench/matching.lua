-- wrk script: GET /v1/demands/{id}/matches, rotating over the demand ids that
-- scripts/bench-matching created (BENCH_DEMANDS, comma-separated) with the partner's token.
local token = os.getenv("BENCH_TOKEN")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_DEMANDS"), "%d+") do ids[#ids + 1] = id end
local i = 0
setup = dofile("bench/threads.lua")

request = function()
  i = i + 1
  local id = ids[((i * 7 + (tid or 0) * 13) % #ids) + 1]
  return wrk.format("GET", "/v1/demands/" .. id .. "/matches", { ["Authorization"] = "Bearer " .. token })
end

done = dofile("bench/report.lua").done
