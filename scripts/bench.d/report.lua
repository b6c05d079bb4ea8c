-- report.lua - ends every bench load script: prints wrk's summary as one
-- JSON line ("BENCHRESULT {...}") that scripts/bench collects. Latencies
-- are wrk's (request written to response read), in milliseconds.
done = function(summary, latency, requests)
	local e = summary.errors
	local seconds = summary.duration / 1e6
	-- wrk counts non-2xx/3xx responses as requests too: report them apart
	-- so that fast error replies never pass for throughput.
	local ok = summary.requests - e.status
	io.write(string.format(
		'BENCHRESULT {"requests":%d,"ok":%d,"seconds":%.3f,' ..
		'"rps":%.1f,"ok_rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
		'"p99_ms":%.3f,"max_ms":%.3f,"errors":{"connect":%d,' ..
		'"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
		summary.requests, ok, seconds,
		summary.requests / seconds, ok / seconds,
		latency:percentile(50) / 1000, latency:percentile(90) / 1000,
		latency:percentile(99) / 1000, latency.max / 1000,
		e.connect, e.read, e.write, e.status, e.timeout))
end
