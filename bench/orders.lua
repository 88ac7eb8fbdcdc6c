-- wrk script: POST /v1/orders, one line per order, a distinct Idempotency-Key per request.
-- The product list (product_id, producer_id pairs) and the partner token come from the
-- environment file written by scripts/bench-orders.
-- BENCH_PRODUCT_LIST ("id,producer;id,producer;…", from bench/suite.py) or a Lua file.
local products = {}
if os.getenv("BENCH_PRODUCT_LIST") then
  for id, producer in string.gmatch(os.getenv("BENCH_PRODUCT_LIST"), "(%d+),(%d+)") do
    products[#products + 1] = { tonumber(id), tonumber(producer) }
  end
else
  products = dofile(os.getenv("BENCH_PRODUCTS"))
end
local token = os.getenv("BENCH_TOKEN")
local counter = 0
local started = 0
setup = dofile("bench/threads.lua")

-- Keys must never repeat across runs either: a reused key with another body is a 422.
init = function(args)
  started = os.time()
  math.randomseed(started + (tid or 0) * 7919)
end

request = function()
  counter = counter + 1
  local p = products[math.random(#products)]
  local body = string.format(
    '{"producer_id":%d,"lines":[{"product_id":%d,"quantity":1}],' ..
    '"delivery":{"province_code":"IR-23","city":"تهران","address":"خیابان آزادی","recipient":"انبار","phone":"02166554433"}}',
    p[2], p[1])
  return wrk.format("POST", "/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("bench-%d-%d-%d-%d", started, tid or 0, counter, math.random(1e9)),
  }, body)
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = dofile("bench/report.lua").done_split("socket_errors")
