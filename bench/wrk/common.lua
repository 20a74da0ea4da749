-- Shared by the bench wrk scripts: per-thread setup, 5xx counting and a JSON summary.
-- Each script defines `make_request()`; items (tokens, holds...) come from the file in
-- BENCH_ITEMS, one per line, split evenly across threads so no item is used twice.
local threads = {}
local thread_count = 0

function load_items()
  local path = os.getenv("BENCH_ITEMS")
  local items = {}
  if path then
    for line in io.lines(path) do
      local fields = {}
      for field in line:gmatch("%S+") do fields[#fields + 1] = field end
      items[#items + 1] = fields
    end
  end
  return items
end

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  thread:set("threads", 0)
  threads[#threads + 1] = thread
end

server_errors = 0
client_errors = 0
wrapped = 0

function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1
  elseif status >= 400 then client_errors = client_errors + 1 end
end

function done(summary, latency, requests)
  local s5, s4, wr = 0, 0, 0
  for _, t in ipairs(threads) do
    s5 = s5 + (t:get("server_errors") or 0)
    s4 = s4 + (t:get("client_errors") or 0)
    wr = wr + (t:get("wrapped") or 0)
  end
  local e = summary.errors
  io.stderr:write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_ms": %.3f, "p99_ms": %.3f, "server_errors": %d, "client_errors": %d, "socket_errors": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    s5, s4, e.connect + e.read + e.write + e.timeout, wr))
end
