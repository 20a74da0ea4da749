-- GET /v1/queue/status, cycling through the tokens in BENCH_ITEMS.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local items, index

function init(args)
  items = load_items()
  index = (id or 0) * 7 + 1
end

function request()
  index = index % #items + 1
  return wrk.format("GET", "/v1/queue/status", { ["Authorization"] = "Bearer " .. items[index][1] })
end
