package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts: each conditional step of the store is one script, so it runs
// atomically on the Redis node that holds its keys. Script.Run sends EVALSHA and
// falls back to EVAL when the server does not know the script (NOSCRIPT: after a
// restart or SCRIPT FLUSH).
//
// A TTL argument of "0" means "no expiry" (SET without PX), as the Store interface
// defines a TTL of 0.

// acquireTurn: KEYS[1] the lock, KEYS[2] the state left by the last holder.
// ARGV[1] the token, ARGV[2] the lease in ms.
// Returns {1, state} or {1} when it took (or already held) the lock, {0} when
// another token holds it.
var acquireTurn = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return {0}
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local st = redis.call('GET', KEYS[2])
if st then
  return {1, st}
end
return {1}
`)

// renewTurn: KEYS[1] the lock; ARGV[1] the token, ARGV[2] the lease in ms.
// Returns 1 when the lease was extended, 0 when the token no longer holds it.
var renewTurn = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// releaseTurn: KEYS[1] the lock, KEYS[2] the state. ARGV[1] the token, ARGV[2]
// "1" when a state is given, ARGV[3] the state, ARGV[4] its TTL in ms.
// Returns 1 when released, 0 (nothing written) when the token no longer holds
// the lock.
var releaseTurn = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then
  if ARGV[4] == '0' then
    redis.call('SET', KEYS[2], ARGV[3])
  else
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  end
end
return 1
`)

// Claim values: a held claim is "held:<token>", a completed one "done".
const (
	claimHeldPrefix = "held:"
	claimDoneValue  = "done"
)

// claim: KEYS[1] the claim; ARGV[1] the token, ARGV[2] the TTL in ms.
// Returns 1 acquired, 2 busy, 3 done (the values of deskie.ClaimState).
var claim = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  if v == 'done' then
    return 3
  end
  if v ~= 'held:' .. ARGV[1] then
    return 2
  end
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], 'held:' .. ARGV[1])
else
  redis.call('SET', KEYS[1], 'held:' .. ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// releaseClaim: KEYS[1] the claim; ARGV[1] the token. Deletes the claim only when
// the token holds it (not when it is done or held by another).
var releaseClaim = redis.NewScript(`
if redis.call('GET', KEYS[1]) == 'held:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
`)

// budgetLib is shared by both budget scripts: the state is a hash with fields
// limit, left, end (unix ms), gen and told (1 when the end was told by the
// server); load returns them (end nil when unset), save writes them and keeps
// the key for at least ARGV keep ms past the window's end, so an idle account's
// state goes away on its own.
const budgetLib = `
local function load()
  local h = redis.call('HMGET', KEYS[1], 'limit', 'left', 'end', 'gen', 'told')
  return tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]), tonumber(h[4]) or 0, h[5] == '1'
end
local function save(limit, left, e, gen, told, now, keep)
  local t = '0'
  if told then
    t = '1'
  end
  redis.call('HSET', KEYS[1], 'limit', string.format('%d', limit), 'left', string.format('%d', left),
    'end', string.format('%d', e), 'gen', string.format('%d', gen), 'told', t)
  local ttl = keep
  if e - now > ttl then
    ttl = e - now
  end
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
`

// spendBudget is deskie.BudgetSpend. KEYS[1] the budget. ARGV[1] cost, ARGV[2]
// now (unix ms, rounded down), ARGV[3] the end of a window starting now (unix ms,
// rounded up), ARGV[4] keep (ms).
// Returns {ok, end, gen, left}.
var spendBudget = redis.NewScript(budgetLib + `
local cost, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, left, e, gen, told = load()
if limit <= 0 then
  return {1, 0, gen, -1}
end
if e == nil or now >= e then
  left, e, gen, told = limit, tonumber(ARGV[3]), gen + 1, false
end
local ok = 1
if left >= cost then
  left = left - cost
elseif limit < cost and left == limit then
  left = 0
else
  ok = 0
end
save(limit, left, e, gen, told, now, tonumber(ARGV[4]))
return {ok, e, gen, left}
`)

// observeBudget is deskie.BudgetObserve. KEYS[1] the budget. ARGV[1] the reported
// limit (-1 absent), ARGV[2] the reported left (-1 absent), ARGV[3] "1" for a 429,
// ARGV[4] the gen of the request, ARGV[5] now (unix ms, rounded down), ARGV[6] the
// end of a window starting now, ARGV[7] the end a 429 parks the budget until,
// ARGV[8] the end a retry_after reports ("" when absent), ARGV[9] keep (ms). The
// ends are computed by the caller from now and the observation alone (unix ms,
// rounded up). Returns 1 when the state changed, 0 when the limit is unknown.
var observeBudget = redis.NewScript(budgetLib + `
local limit, left, e, gen, told = load()
local olimit, ogen = tonumber(ARGV[1]), tonumber(ARGV[4])
local limited, raEnd = ARGV[3] == '1', tonumber(ARGV[8])
if olimit > 0 then
  if limit <= 0 then
    -- the first limit heard of starts a window; this answer belongs to it
    local first = tonumber(ARGV[6])
    if raEnd ~= nil and not limited then
      first = raEnd
    end
    left, e, gen, told = olimit, first, gen + 1, false
    ogen = gen
  end
  limit = olimit
end
if limit <= 0 then
  return 0
end
if e == nil then
  e = 0
end
local current = ogen == gen
local oleft = tonumber(ARGV[2])
if current and oleft >= 0 and oleft < left then
  left = oleft
end
if limited then
  left, e, told = 0, tonumber(ARGV[7]), true
elseif current and raEnd ~= nil then
  if not told or raEnd > e then
    e, told = raEnd, true
  end
end
save(limit, left, e, gen, told, tonumber(ARGV[5]), tonumber(ARGV[9]))
return 1
`)
