-- POST /payments/webhook: signed, distinct payment.captured events, each
-- wrk thread taking its own share of the file, in order (it starts over,
-- as duplicates, only once its share is used up).
-- wrk -tN ... -s webhook.lua URL -- EVENTS_FILE N   ("event_id<TAB>signature<TAB>body" lines)
local started = 0

function setup(thread)  -- in wrk's main state, once per thread: number them
  thread:set("index", started)
  started = started + 1
end

function init(args)
  events, next_event = {}, 1
  local i = 0
  for line in io.lines(args[1]) do
    if i % tonumber(args[2]) == index then
      local id, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.+)$")
      events[#events + 1] = wrk.format("POST", "/payments/webhook", {
        ["Content-Type"] = "application/json",
        ["X-Razorpay-Event-Id"] = id,
        ["X-Razorpay-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
end

function request()
  local r = events[next_event]
  next_event = next_event % #events + 1
  return r
end
