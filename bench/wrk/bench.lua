-- wrk script for the benchmark: counts responses by status class in every thread and prints one
-- JSON line at the end (wrk's own "Non-2xx or 3xx" count hides 3xx). With BENCH_WRK_DATA set it
-- sends form POSTs instead, rotating over lines of "cookie<TAB>csrf-token<TAB>body" prepared
-- beforehand (each line is one shopper's session), to the path in BENCH_WRK_POST_PATH. With
-- BENCH_WRK_PATHS set it GETs each path listed in that file in turn (many pages, not one).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("offset", counter * 997)
  counter = counter + 1
  table.insert(threads, thread)
end

local posts = {}
local cursor = 0
local post_path = nil

function init(args)
  s2, s3, s4, s5 = 0, 0, 0, 0
  local data = os.getenv("BENCH_WRK_DATA")
  if data and data ~= "" then
    post_path = os.getenv("BENCH_WRK_POST_PATH")
    for line in io.lines(data) do
      local cookie, token, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      if cookie then
        table.insert(posts, wrk.format("POST", post_path, {
          ["Cookie"] = cookie,
          ["X-CSRFToken"] = token,
          ["Content-Type"] = "application/x-www-form-urlencoded",
        }, body))
      end
    end
    cursor = offset or 0
  end
  local paths = os.getenv("BENCH_WRK_PATHS")
  if paths and paths ~= "" then
    for line in io.lines(paths) do
      if line ~= "" then
        table.insert(posts, wrk.format("GET", line))
      end
    end
    cursor = offset or 0
  end
end

function request()
  if #posts == 0 then
    return wrk.request()
  end
  cursor = cursor % #posts + 1
  return posts[cursor]
end

function response(status, headers, body)
  if status < 300 then s2 = s2 + 1
  elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1
  else s5 = s5 + 1 end
end

function done(summary, latency, requests)
  local c2, c3, c4, c5 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c2 = c2 + t:get("s2")
    c3 = c3 + t:get("s3")
    c4 = c4 + t:get("s4")
    c5 = c5 + t:get("s5")
  end
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"status":{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    c2, c3, c4, c5))
end
