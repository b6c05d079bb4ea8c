-- etcd_load_v2.lua - etcd v2 keys API: writes the loaded key set under the
-- directory /bk in order, then makes wrk exit (see load.lua).
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local next_key = 0

request = function()
	if next_key >= bench.keys then
		-- wrk has no request limit and would run its whole -d; the
		-- load's time is taken by scripts/bench, so just leave.
		os.exit(0)
	end
	local k = bench.loaded_key(next_key)
	next_key = next_key + 1
	return wrk.format("PUT", "/v2/keys/bk/" .. k, nil,
			  "value=" .. bench.value)
end
