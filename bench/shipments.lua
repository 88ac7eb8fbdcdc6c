-- wrk script: records an export shipment (a distinct Idempotency-Key and declaration number
-- per request) and, every other request, clears one of the declared shipments listed in
-- BENCH_DECLARED (id:version pairs) as the export officer (BENCH_CLEAR_TOKEN), with If-Match naming
-- the version checked, which updates the figures rollups in its transaction.
local token = os.getenv("BENCH_TOKEN")
local officer = os.getenv("BENCH_CLEAR_TOKEN") or token  -- only export officers clear
local producer = os.getenv("BENCH_PRODUCER")
local declared = {}
for id, version in string.gmatch(os.getenv("BENCH_DECLARED") or "", "(%d+):(%d+)") do declared[#declared + 1] = { id, version } end
local counter, started = 0, 0
setup = dofile("bench/threads.lua")
init = function(args) started = os.time() end

request = function()
  counter = counter + 1
  if counter % 2 == 0 and #declared > 0 then
    local pick = declared[(counter / 2 + (tid or 0) * 100003) % #declared + 1]
    return wrk.format("POST", "/v1/export-shipments/" .. pick[1] .. "/transitions", {
      ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. officer,
      ["If-Match"] = '"' .. pick[2] .. '"' }, '{"to":"cleared"}')
  end
  local key = string.format("bench-%d-%d-%d", started, tid or 0, counter)
  local body = string.format(
    '{"producer_id":%s,"hs_code":"570110","destination_country":"DE","customs_declaration_no":"%s",' ..
    '"fob_value_usd":"1250.50","net_weight_kg":12.5,"export_date":"2026-11-01","customs_office_code":"bazargan"}', producer, key)
  return wrk.format("POST", "/v1/export-shipments", {
    ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token, ["Idempotency-Key"] = key }, body)
end

local statuses = {}
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end

done = dofile("bench/report.lua").done_split("errors")
