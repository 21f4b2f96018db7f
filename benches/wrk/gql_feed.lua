-- The feed: page 1 (FEED_PAGE=1) or page 3 (FEED_PAGE=3) of 20 posts, each
-- with its author, as the viewers of the file FEED_TOKENS take turns (one
-- line per viewer: "TOKEN CURSOR", the cursor being that of the last post of
-- the viewer's page 2; benches/feed.sh writes it).
local selection = "edges { cursor node { id body createdAt author { handle displayName viewerFollows } } } pageInfo { hasNextPage endCursor }"
requests = {}
function init(args)
  local page = os.getenv("FEED_PAGE") or "1"
  for line in io.lines(os.getenv("FEED_TOKENS")) do
    local token, cursor = line:match("^(%S+) (%S+)$")
    local body
    if page == "3" then
      body = '{"query":"query($after: String) { feed(first: 20, after: $after) { ' .. selection ..
        ' } }","variables":{"after":"' .. cursor .. '"}}'
    else
      body = '{"query":"{ feed(first: 20) { ' .. selection .. ' } }"}'
    end
    table.insert(requests, wrk.format("POST", nil,
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body))
  end
  -- Each thread starts at another viewer.
  turn = (tid or 0) * 7
end
function request()
  turn = turn % #requests + 1
  return requests[turn]
end
