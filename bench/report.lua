-- wrk script for bench/bench.py: measure for SECONDS, then drain, then print one machine-readable line.
--
-- Usage: wrk -tT -cC -d<SECONDS + drain limit>s --latency -s report.lua URL -- SECONDS C/T
--
-- Why drain: when wrk's -d ends it closes every connection with a request still in flight, and the
-- app may finish those requests (Spin runs the handler to completion), so the counter would grow by
-- more than the 2xx responses wrk counted. Instead each connection stops sending after SECONDS: its
-- next request is an empty string, which wrk writes as nothing and then waits on forever. Once all
-- connections of a thread are idle like that, every request it sent has been answered; the thread
-- stops, and the measured window ends at that moment. -d only bounds the drain: bench.py sends wrk
-- SIGINT (report now) when every thread has drained.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main Lua state: collect the threads so done() can read their globals
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- per-thread Lua states (globals, so that done() can read them with thread:get)
started = 0
finished = 0
idle = 0

local deadline, connections, request_text

function init(args)
    started = now()
    deadline = started + tonumber(args[1])
    connections = tonumber(args[2])
    request_text = wrk.format()
end

function request()
    if now() < deadline then
        return request_text
    end
    idle = idle + 1
    if idle == connections then
        finished = now()
        wrk.thread:stop()
        io.write("DRAINED\n") -- bench.py ends wrk once every thread said so
        io.flush()
    end
    return ""
end

function done(summary, latency, _)
    local first, last, drained = math.huge, 0, true
    for _, thread in ipairs(threads) do
        first = math.min(first, thread:get("started"))
        last = math.max(last, thread:get("finished"))
        drained = drained and thread:get("finished") > 0
    end
    -- a thread that never drained ran until wrk's -d: fall back to wrk's own duration
    local window = drained and last - first or summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d window_s=%.6f drained=%s non_2xx_3xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
        summary.requests, window, tostring(drained), e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.max))
end
