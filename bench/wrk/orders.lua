-- POST /orders: 1-3 distinct random products (1-3 units each) for a random
-- customer's token.  wrk ... -s orders.lua URL -- TOKENS_FILE PRODUCTS_FILE
-- TOKENS_FILE: "user_id<TAB>token" lines; PRODUCTS_FILE: one product id a line.
local tokens, products = {}, {}

function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line:match("\t(.+)$") end
  for line in io.lines(args[2]) do products[#products + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local picked, items = {}, {}
  for _ = 1, math.random(1, 3) do
    local p = products[math.random(#products)]
    if not picked[p] then
      picked[p] = true
      items[#items + 1] = string.format('{"product_id":"%s","quantity":%d}', p, math.random(1, 3))
    end
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/orders", {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
  }, body)
end
