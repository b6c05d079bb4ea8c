-- common.lua - helpers every bench load script starts with (scripts/bench
-- concatenates common.lua, the load script and report.lua into one file).
--
-- Settings come from the environment, so one script serves every run:
--   BENCH_SEED         seed for random keys (a new one per run, so runs
--                      write new keys rather than overwrite old ones)
--   BENCH_VALUE_BYTES  value size (default 100)
--   BENCH_KEYS         number of keys the loader writes
--   BENCH_READ_KEYS    reads pick uniformly among loaded keys [0, this)

bench = {}

local function env_num(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then
		return default
	end
	return tonumber(v)
end

bench.value = string.rep("v", env_num("BENCH_VALUE_BYTES", 100))
bench.keys = env_num("BENCH_KEYS", 0)
bench.read_keys = env_num("BENCH_READ_KEYS", 1000)
math.randomseed(env_num("BENCH_SEED", os.time()))

-- Letters and digits only: a random key never needs percent-encoding.
local alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

-- A random 16-byte key.
function bench.random_key()
	local k = {}
	for i = 1, 16 do
		local n = math.random(1, #alnum)
		k[i] = alnum:sub(n, n)
	end
	return table.concat(k)
end

-- The i-th key of the loaded set: also 16 bytes ("ld" + 14 digits), and in
-- key order, so a prefix listing can count them.
function bench.loaded_key(i)
	return string.format("ld%014d", i)
end

-- A key the loader wrote beforehand, picked uniformly.
function bench.random_loaded_key()
	return bench.loaded_key(math.random(0, bench.read_keys - 1))
end

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Standard base64 (with padding), for etcd's v3 JSON gateway.
function bench.base64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local q = {}
		for j = 4, 1, -1 do
			local idx = n % 64
			q[j] = b64:sub(idx + 1, idx + 1)
			n = math.floor(n / 64)
		end
		if b == nil then
			q[3], q[4] = "=", "="
		elseif c == nil then
			q[4] = "="
		end
		out[#out + 1] = table.concat(q)
	end
	return table.concat(out)
end
