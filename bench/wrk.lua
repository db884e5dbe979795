-- wrk script for bench/run.  Everything comes from the environment so one
-- script serves every scenario and target:
--   BENCH_PATH        request target: absolute-form (http://127.0.0.1:PORT/x)
--                     through a proxy, origin-form (/x) when direct
--   BENCH_ALT_PATH    if set, every other request (per wrk thread) uses this
--                     target instead (the 503 path of the retry scenario)
--   BENCH_HOST        Host header (the upstream's host:port, never the proxy's)
--   BENCH_METHOD      GET (default) or POST
--   BENCH_BODY_BYTES  request body size (POST): 65536 in post64k, 25165824
--                     in upload24m (built once per thread, sent whole on
--                     every request)
--   BENCH_CLOSE       1: "Connection: close" on every request
--   BENCH_IDEMPOTENCY 1: an "Idempotency-Key" header on every request
-- done() prints one machine-readable line that bench/run parses.

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
if nbody > 0 then
   wrk.body = string.rep("x", nbody)
   wrk.headers["Content-Type"] = "application/octet-stream"
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

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d\n",
      summary.requests, summary.bytes, summary.duration,
      latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.timeout, e.status))
end
