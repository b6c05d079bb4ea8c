-- etcd_get_v3.lua - etcd v3 JSON gateway: linearizable range read (the
-- default) of one key loaded beforehand through the gateway.
wrk.headers["Content-Type"] = "application/json"

request = function()
	local key = bench.base64(bench.random_loaded_key())
	return wrk.format("POST", "/v3/kv/range", nil,
			  '{"key":"' .. key .. '"}')
end
