-- GET /orders (the first page, limit 20) as a random customer.
-- wrk ... -s list_orders.lua URL -- TOKENS_FILE   ("user_id<TAB>token" lines)
local headers = {}

function init(args)
  for line in io.lines(args[1]) do headers[#headers + 1] = {["Authorization"] = "Bearer " .. line:match("\t(.+)$")} end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  return wrk.format("GET", "/orders", headers[math.random(#headers)])
end
