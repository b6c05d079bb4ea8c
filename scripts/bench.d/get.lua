-- get.lua - kvd: linearizable GET (the default) of a key loaded beforehand.
request = function()
	return wrk.format("GET", "/v1/kv/" .. bench.random_loaded_key())
end
