-- wrk script: typical supply searches with filters, rotated per request.
-- Queries are percent-encoded Persian: زعفران, کیک, گلیم دستباف, عسل.
local paths = {
  "/v1/products?q=%D8%B2%D8%B9%D9%81%D8%B1%D8%A7%D9%86&category_code=herbal&max_price_rials=100000000",
  "/v1/products?q=%DA%A9%DB%8C%DA%A9&province_code=IR-10",
  "/v1/products?category_code=food&min_packaging_level=retail&sort=price",
  "/v1/products?q=%DA%AF%D9%84%DB%8C%D9%85%20%D8%AF%D8%B3%D8%AA%D8%A8%D8%A7%D9%81&min_capacity=100",
  "/v1/products?category_code=dairy&certificate=health_license&province_code=IR-00",
  "/v1/products?q=%D8%B9%D8%B3%D9%84&category_code=food.honey&sort=newest",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end

done = dofile("bench/report.lua").done
