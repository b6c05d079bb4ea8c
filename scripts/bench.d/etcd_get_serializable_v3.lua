-- etcd_get_serializable_v3.lua - etcd v3 JSON gateway: serializable range
-- read (answered by the member from its own state, as kvd's stale GET) of
-- one key loaded beforehand through the gateway.
wrk.headers["Content-Type"] = "application/json"

request = function()
	local key = bench.base64(bench.random_loaded_key())
	return wrk.format("POST", "/v3/kv/range", nil,
			  '{"key":"' .. key .. '","serializable":true}')
end
