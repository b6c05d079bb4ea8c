-- etcd_put_v2.lua - etcd v2 keys API: PUT of a random 16-byte key with a
-- 100-byte value (the anchor for kvd's PUT rows).
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

request = function()
	return wrk.format("PUT", "/v2/keys/" .. bench.random_key(), nil,
			  "value=" .. bench.value)
end
