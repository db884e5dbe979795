-- wrk script for bench/run.  Everything comes from the environment so one
-- script serves every scenario and target:
--   BENCH_PATH        request target: absolute-form (http://127.0.0.1:PORT/x)
--                     through a proxy, origin-form (/x) when direct
--   BENCH_ALT_PATH    if set, every other request (per wrk thread) uses this
--                     target instead (the 503 path of the retry scenario)
--   BENCH_HOST        Host header (the upstream's host:port, never the proxy's)
--   BENCH_METHOD      GET (default), POST or PROPFIND (dav100)
--   BENCH_BODY_BYTES  request body size (POST): 65536 in post64k, 25165824
--                     in upload24m (built once per thread, sent whole on
--                     every request)
--   BENCH_CLOSE       1: "Connection: close" on every request
--   BENCH_IDEMPOTENCY 1: an "Idempotency-Key" header on every request
--   BENCH_TAG         if set, an "X-Bench-Run" header with this value on
--                     every request (slowtail: the origin logs it, so its
--                     requests can be counted per run)
--   BENCH_THINK_MS    if set, each connection waits a random 0.5x..1.5x
--                     this many milliseconds after a response before it
--                     sends its next request (wrk's delay(); the wait is not
--                     part of the latency)
--   BENCH_HIST        1: done() also prints the latency histogram of the
--                     completed requests, one "BENCH_LAT <microseconds>
--                     <count>" line per value, without wrk's correction
--                     (see hist() below), and a BENCH_RAW line with the
--                     count of the requests written, completed or not
--   BENCH_CONNECTIONS wrk's -c (BENCH_HIST needs it to undo the correction)
-- done() prints machine-readable lines that bench/run parses: BENCH_RESULT
-- and BENCH_TAIL (p99.9 and the maximum).

local path = os.getenv("BENCH_PATH") or "/"
local alt = os.getenv("BENCH_ALT_PATH")
local host = os.getenv("BENCH_HOST")
local nbody = tonumber(os.getenv("BENCH_BODY_BYTES") or "0") or 0

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = path
if host and host ~= "" then
   wrk.headers["Host"] = host
end
if os.getenv("BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end
if os.getenv("BENCH_IDEMPOTENCY") == "1" then
   wrk.headers["Idempotency-Key"] = "bench-7f3c9a1e"
end
local tag = os.getenv("BENCH_TAG")
if tag and tag ~= "" then
   wrk.headers["X-Bench-Run"] = tag
end
local think = tonumber(os.getenv("BENCH_THINK_MS") or "0") or 0
if think > 0 then
   math.randomseed(os.time())
   function delay()
      return math.floor(think * (0.5 + math.random()))
   end
end
if nbody > 0 then
   wrk.body = string.rep("x", nbody)
   wrk.headers["Content-Type"] = "application/octet-stream"
end

-- the threads, for done() (which runs in the main Lua state) to read their
-- "sent" counts
local threads = {}
function setup(thread)
   table.insert(threads, thread)
end

if alt and alt ~= "" then
   -- Dynamic requests: alternate the two targets, so exactly half of the
   -- requests (per thread) go to the path that always answers 503.
   local reqs = nil
   local n = 0
   function request()
      if not reqs then
         reqs = { wrk.format(nil, path), wrk.format(nil, alt) }
      end
      n = n + 1
      return reqs[(n % 2) + 1]
   end
end

if os.getenv("BENCH_HIST") == "1" and not (alt and alt ~= "") then
   -- count the requests written (completed or not when wrk stops)
   sent = 0
   local req = nil
   function request()
      if not req then
         req = wrk.format()
      end
      sent = sent + 1
      return req
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d\n",
      summary.requests, summary.bytes, summary.duration,
      latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.timeout, e.status))
   io.write(string.format("BENCH_TAIL p999_us=%d max_us=%d\n",
      latency:percentile(99.9), latency.max))
   if os.getenv("BENCH_HIST") == "1" then
      hist(summary, latency)
   end
end

-- BENCH_HIST: the latency of every completed request, as wrk measured it
-- and before its correction.  wrk "corrects" its latency statistics for
-- coordinated omission before done() sees them (stats_correct() in wrk
-- 4.x): for every recorded latency n above twice the expected interval e
-- (run time / (requests / connections)) it adds a sample at n - e,
-- n - 2e, ... down to e, requests an open-loop client would have waited
-- for.  Its percentiles (p50_us, p99_us, p999_us above) include those
-- samples.  This undoes it exactly (the added samples all sit below the
-- one they came from: largest value first, take its copies back off), so
-- the histogram counts each request once; BENCH_RAW says whether the
-- counts add up to the requests.
function hist(summary, latency)
   local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "0") or 0
   local vals, cnt = {}, {}
   for i = 1, #latency do
      local v, c = latency(i)
      vals[#vals + 1] = v
      cnt[v] = c
   end
   table.sort(vals, function(a, b) return a > b end)
   local per = conns > 0 and math.floor(summary.requests / conns) or 0
   local e = per > 0 and math.floor(summary.duration / per) or 0
   if e > 0 then
      for _, n in ipairs(vals) do
         local c = cnt[n]
         if c > 0 and n > 2 * e then
            local m = n - e
            while m > e do
               cnt[m] = (cnt[m] or 0) - c
               m = m - e
            end
         end
      end
   end
   local total, bad = 0, 0
   for i = #vals, 1, -1 do
      local v = vals[i]
      if cnt[v] < 0 then bad = bad + 1 end
      if cnt[v] > 0 then
         total = total + cnt[v]
         io.write(string.format("BENCH_LAT %d %d\n", v, cnt[v]))
      end
   end
   -- (wrk calls request() once in the first thread's state before the
   -- run, to check it: script_verify_request() in wrk 4.x; not sent)
   local nsent = -1
   for _, t in ipairs(threads) do
      nsent = nsent + (t:get("sent") or 0)
   end
   io.write(string.format("BENCH_RAW count=%d requests=%d interval_us=%d negative=%d sent=%d\n",
      total, summary.requests, e, bad, nsent))
end
