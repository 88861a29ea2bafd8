-- wrk script for the kgraph benchmark: every request is a query drawn from a template file
-- with a fresh random parameter from its pool, percent-encoded here.
-- Arguments (after --): TEMPLATES POOL_DIR PATH_PREFIX SEED
--   TEMPLATES: lines "pool<TAB>encoded-part<TAB>encoded-part..." ("-" = no parameter)
--   POOL_DIR: folder of NAME.terms files (one SPARQL term a line)
--   PATH_PREFIX: e.g. /sparql?query=
-- done() prints one JSON line: requests, duration, errors, latency percentiles (microseconds).

local templates, pools, prefix = {}, {}, "/sparql?query="
local counter = 0
local sent = 0

local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  prefix = args[3] or prefix
  math.randomseed(tonumber(args[4] or "1") * 1000 + (id or 0))
  for line in io.lines(args[1]) do
    if #line > 0 then
      local f = split(line)
      local pool = f[1]
      table.remove(f, 1)
      templates[#templates + 1] = { pool = pool, parts = f }
      if pool ~= "-" and pools[pool] == nil then
        local terms = {}
        for term in io.lines(args[2] .. "/" .. pool .. ".terms") do
          if #term > 0 then terms[#terms + 1] = encode(term) end
        end
        pools[pool] = terms
      end
    end
  end
  wrk.headers["Accept"] = "application/sparql-results+json"
end

function request()
  local t = templates[math.random(#templates)]
  local q
  if t.pool == "-" then
    q = t.parts[1]
  else
    local terms = pools[t.pool]
    -- A unique comment line per request: the engines ignore it, and kgraph's answer cache
    -- (keyed on the query text) cannot serve a parameterized request, so these classes
    -- measure evaluation; the repeated class (no parameter) measures the cache.
    sent = sent + 1
    q = table.concat(t.parts, terms[math.random(#terms)]) ..
        string.format("%%0A%%23%d-%d", id or 0, sent)
  end
  return wrk.format("GET", prefix .. q)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
