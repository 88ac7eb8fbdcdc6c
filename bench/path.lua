-- wrk script: GET one of the comma-separated paths in BENCH_PATHS, in turn.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/healthz", "[^,]+") do paths[#paths + 1] = p end
-- One path: wrk's static request (building each request in Lua costs the load generator more
-- than the cheapest endpoints cost the server: /healthz measured 7,400 vs 25,000 requests/s).
if #paths == 1 then
  wrk.path = paths[1]
else
  local i = 0
  request = function()
    i = i + 1
    return wrk.format("GET", paths[(i % #paths) + 1])
  end
end

done = dofile("bench/report.lua").done
