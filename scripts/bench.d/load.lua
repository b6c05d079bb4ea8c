-- load.lua - kvd: writes the loaded key set ld00000000000000 ... in order,
-- then makes wrk exit. Requests still in flight then may or may not have
-- been applied; scripts/bench lists the keys afterwards and writes the
-- missing ones, so the count is exact.
local next_key = 0

request = function()
	if next_key >= bench.keys then
		-- wrk has no request limit and would run its whole -d; the
		-- load's time is taken by scripts/bench, so just leave.
		os.exit(0)
	end
	local k = bench.loaded_key(next_key)
	next_key = next_key + 1
	return wrk.format("PUT", "/v1/kv/" .. k, nil, bench.value)
end
