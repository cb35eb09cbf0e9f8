-- bench/run's mixed workload (case m): a wrk script.
--
-- ORGIAM_MIX_DIR holds two files written by bench/run:
--   tokens  "ORG_INDEX ACCESS_TOKEN" per line: every app's token (5 apps per organization)
--   pages   "ORG_INDEX PATH?QUERY" per line: role pages reached by following next links
--           (their PageToken is bound to that organization)
-- Each request: an organization drawn with a heavy skew (index = N * u^3, so the first tenth
-- of the organizations get ~46 % of the requests), one of its apps at random, and one of
--   35 %  the first page, PageSize 10..100
--   30 %  a search: a random 3..6-character piece of a generated role name, PageSize 10..60
--   15 %  RoleProductGroup=<one of the generated groups>, PageSize 10..100
--   10 %  ResourceTypes=account or subaccount, PageSize 10..100
--   10 %  a page reached through a page token (the first page when the organization has none)
-- The space of distinct requests is far larger than any response cache: most miss it.
-- ORGIAM_MIX_KIND=N forces one kind for every request (N as drawn from 1..100: 1 first page,
-- 50 search, 70 product group, 85 resource type, 95 page token), to measure the kinds apart.

local dir = os.getenv("ORGIAM_MIX_DIR") or "."
local forced_kind = tonumber(os.getenv("ORGIAM_MIX_KIND") or "")
local tokens, pages, orgs = {}, {}, 0

-- The words of orgiam-bench's generated role names and its product groups.
local adjectives = { "amber", "silver", "copper", "cobalt", "crimson", "golden", "ivory", "jade",
  "lunar", "marble", "onyx", "polar", "quartz", "rapid", "scarlet", "solar", "tidal", "umber",
  "velvet", "winter", "zephyr", "northern", "eastern", "hidden" }
local nouns = { "reader", "writer", "viewer", "manager", "operator", "auditor", "editor",
  "approver", "observer", "developer", "engineer", "analyst", "owner", "admin", "support",
  "billing clerk", "flow builder", "queue agent", "studio lead", "monitor", "trainee", "partner" }
local groups = { "billing", "conversations", "flex", "iam", "lookup", "messaging", "monitor",
  "organization", "phone-numbers", "segment", "serverless", "studio", "sync", "taskrouter",
  "verify", "video", "voice" }
local types = { "account", "subaccount" }

local function lines(name, f)
  local h = assert(io.open(dir .. "/" .. name, "r"), "bench/mixed.lua: no " .. dir .. "/" .. name)
  for line in h:lines() do
    local i, rest = line:match("^(%d+) (.+)$")
    if i then f(tonumber(i), rest) end
  end
  h:close()
end

init = function(args)
  lines("tokens", function(i, t)
    tokens[i] = tokens[i] or {}
    table.insert(tokens[i], "Bearer " .. t)
    if i + 1 > orgs then orgs = i + 1 end
  end)
  lines("pages", function(i, p)
    pages[i] = pages[i] or {}
    table.insert(pages[i], p)
  end)
  math.randomseed(os.time())
end

local function piece()
  local word
  if math.random(2) == 1 then
    word = adjectives[math.random(#adjectives)] .. " " .. nouns[math.random(#nouns)]
  else
    word = nouns[math.random(#nouns)] .. string.format(" %07d", math.random(0, 39999))
  end
  local len = math.random(3, 6)
  local at = math.random(1, math.max(1, #word - len + 1))
  return (word:sub(at, at + len - 1):gsub(" ", "%%20"))
end

request = function()
  local u = math.random()
  local org = math.floor(orgs * u * u * u)
  local mine = tokens[org]
  local auth = mine[math.random(#mine)]
  local kind = forced_kind or math.random(100)
  local path
  if kind <= 35 then
    path = "/v2/Organizations/Roles?PageSize=" .. math.random(10, 100)
  elseif kind <= 65 then
    path = "/v2/Organizations/Roles?Search=" .. piece() .. "&PageSize=" .. math.random(10, 60)
  elseif kind <= 80 then
    path = "/v2/Organizations/Roles?RoleProductGroup=" .. groups[math.random(#groups)]
      .. "&PageSize=" .. math.random(10, 100)
  elseif kind <= 90 then
    path = "/v2/Organizations/Roles?ResourceTypes=" .. types[math.random(#types)]
      .. "&PageSize=" .. math.random(10, 100)
  else
    local mine_pages = pages[org]
    if mine_pages then
      path = mine_pages[math.random(#mine_pages)]
    else
      path = "/v2/Organizations/Roles"
    end
  end
  return wrk.format("GET", path, { ["Authorization"] = auth })
end
