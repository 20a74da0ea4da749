-- POST /v1/queue/tokens for a new random user each time (BENCH_CONCERT).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local concert = os.getenv("BENCH_CONCERT") or "1"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919 + math.floor(os.clock() * 1e6))
end

local function uuid()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (template:gsub("[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function request()
  return wrk.format("POST", "/v1/queue/tokens", headers, '{"userId":"' .. uuid() .. '","concertId":' .. concert .. '}')
end
