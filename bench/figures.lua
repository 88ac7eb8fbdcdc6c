-- wrk script: GET /v1/export-figures for a whole year grouped by province and HS chapter or HS
-- heading (hs4), alternating the Solar Hijri year 1404 and the Gregorian year 2025 (BENCH_TOKEN:
-- an officer).
local token = os.getenv("BENCH_TOKEN")
local paths = {
  "/v1/export-figures?from=2025-03-21&to=2026-03-20&calendar=jalali&period=year&group_by=province,hs_chapter",
  "/v1/export-figures?from=2025-01-01&to=2025-12-31&calendar=gregorian&period=year&group_by=province,hs_chapter",
  "/v1/export-figures?from=2025-03-21&to=2026-03-20&calendar=jalali&period=month&group_by=hs_chapter",
  "/v1/export-figures?from=1404-01&to=1404-12&calendar=jalali&period=year&group_by=province,hs4",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Authorization"] = "Bearer " .. token })
end

done = dofile("bench/report.lua").done
