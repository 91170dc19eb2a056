-- wrk script for bench-webhooks: no-op updates (an edited message, which the bot ignores)
-- round-robin over the connected bots, each with its secret header and a fresh update id.
-- Arguments after `--`: the file of "bot_id secret" lines, and the first update id.
local made = 0
function setup(thread)
  thread:set("tid", made)
  made = made + 1
end

function init(args)
  bots = {}
  for line in io.lines(args[1]) do
    local id, secret = line:match("^(%S+) (%S+)$")
    bots[#bots + 1] = { path = "/tg/" .. id, secret = secret }
  end
  -- Threads count from their own block of ids, so no two updates share one.
  next_id = tonumber(args[2]) + tid * 100000000
  i = tid
end

function request()
  i = i + 1
  next_id = next_id + 1
  local b = bots[(i % #bots) + 1]
  local body = string.format(
    '{"update_id":%d,"edited_message":{"message_id":1,"date":1763700000,'
      .. '"chat":{"id":42,"type":"private","first_name":"Ann"},'
      .. '"from":{"id":42,"is_bot":false,"first_name":"Ann"},"text":"edited"}}',
    next_id)
  return wrk.format("POST", b.path, {
    ["content-type"] = "application/json",
    ["x-telegram-bot-api-secret-token"] = b.secret,
  }, body)
end
