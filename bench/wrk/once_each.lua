-- Sends each prepared request once, the items split across threads.
-- BENCH_KIND=hold: lines "token concert date seat" → POST /v1/reservations
-- BENCH_KIND=pay:  lines "token reservationId"      → POST /v1/payments (with an Idempotency-Key)
-- BENCH_KIND=proof: lines "concert userId challenge nonce" → POST /v1/queue/tokens with that proof
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local kind = os.getenv("BENCH_KIND")
local mine, index = {}, 0

function init(args)
  local all = load_items()
  local me, count = id or 0, tonumber(os.getenv("BENCH_THREADS") or "1")
  for i = 1, #all do
    if (i - 1) % count == me then mine[#mine + 1] = all[i] end
  end
end

function request()
  index = index + 1
  if index > #mine then
    -- Out of prepared items: reuse (answers will be 4xx and are reported as `wrapped`).
    wrapped = wrapped + 1
    index = 1
  end
  local item = mine[index]
  if kind == "proof" then
    return wrk.format("POST", "/v1/queue/tokens", { ["Content-Type"] = "application/json" },
      '{"concertId":' .. item[1] .. ',"userId":"' .. item[2] .. '","proof":{"challenge":"' .. item[3] .. '","nonce":"' .. item[4] .. '"}}')
  end
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. item[1] }
  if kind == "hold" then
    return wrk.format("POST", "/v1/reservations", headers,
      '{"concertId":' .. item[2] .. ',"date":"' .. item[3] .. '","seatNumbers":[' .. item[4] .. ']}')
  else
    headers["Idempotency-Key"] = "bench-" .. item[2]
    return wrk.format("POST", "/v1/payments", headers, '{"reservationId":"' .. item[2] .. '"}')
  end
end
