-- GET /orders/:id of a random order, with its customer's token.
-- wrk ... -s get_order.lua URL -- ORDERS_FILE   ("order_id<TAB>token" lines)
local orders = {}

function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^([^\t]+)\t(.+)$")
    orders[#orders + 1] = {"/orders/" .. id, {["Authorization"] = "Bearer " .. token}}
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local o = orders[math.random(#orders)]
  return wrk.format("GET", o[1], o[2])
end
