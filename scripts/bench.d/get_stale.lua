-- get_stale.lua - kvd: stale GET (served from the member's own state) of a
-- key loaded beforehand.
request = function()
	return wrk.format("GET", "/v1/kv/" .. bench.random_loaded_key() ..
			  "?consistency=stale")
end
