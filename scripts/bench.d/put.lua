-- put.lua - kvd: PUT of a random 16-byte key with a 100-byte value.
request = function()
	return wrk.format("PUT", "/v1/kv/" .. bench.random_key(), nil,
			  bench.value)
end
