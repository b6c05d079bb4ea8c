-- noop_get.lua - GET / on the evhttp no-op server: the ceiling for any
-- evhttp request on this machine.
request = function()
	return wrk.format("GET", "/")
end
