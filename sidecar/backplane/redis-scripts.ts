import type { ChainableCommander, Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis backplane. Each runs atomically in Redis, so a batch gets its ids,
 * its place in the shared history and its pub/sub message in one step: ids are contiguous per
 * group and the order of messages on the channel is the order of the log. Numbers are formatted
 * with %.0f: Lua 5.1 prints large numbers in exponent notation otherwise.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: meta, log, sizes, groups. ARGV: count, blob, wire bytes, max messages, max bytes,
 * key ttl ms, channel, group. Returns { epoch, first seq }.
 */
const PUBLISH = `${NOW}
local n = tonumber(ARGV[1])
local size = tonumber(ARGV[3])
local maxMessages = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'evicted', 'bytes')
local epoch = m[1]
local seq, evicted, bytes = 0, 0, 0
if epoch then
  seq, evicted, bytes = tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
elseif n > 0 then
  -- A new sequence starts at the cluster's clock: ids grow across re-creations of the group.
  epoch = string.format('%.0f', now)
  redis.call('DEL', KEYS[2], KEYS[3])
else
  epoch = '0'
end
local function f(x) return string.format('%.0f', x) end
if n == 0 then
  -- Framing-only bytes (blank lines): passed on in order, not numbered, not kept.
  redis.call('PUBLISH', ARGV[7], epoch .. '-' .. f(seq) .. '\\n' .. ARGV[2])
  return { tonumber(epoch), seq + 1 }
end
local first = seq + 1
seq = seq + n
local id = epoch .. '-' .. f(seq)
if maxMessages > 0 and size <= maxBytes then
  redis.call('XADD', KEYS[2], id, 'd', ARGV[2])
  redis.call('RPUSH', KEYS[3], f(seq) .. ' ' .. f(size))
  bytes = bytes + size
  -- The same eviction as the in-memory history: whole batches while over either limit, or
  -- part of the oldest when only the message count is over.
  while seq - evicted > maxMessages or bytes > maxBytes do
    local oldest = redis.call('LINDEX', KEYS[3], 0)
    if not oldest then break end
    local sp = string.find(oldest, ' ')
    local last = tonumber(string.sub(oldest, 1, sp - 1))
    local osize = tonumber(string.sub(oldest, sp + 1))
    if bytes > maxBytes or last - evicted <= (seq - evicted) - maxMessages then
      redis.call('LPOP', KEYS[3])
      redis.call('XTRIM', KEYS[2], 'MINID', epoch .. '-' .. f(last + 1))
      bytes = bytes - osize
      evicted = last
    else
      evicted = seq - maxMessages
    end
  end
else
  -- Nothing can be kept: history is off, or this batch alone is larger than the window.
  redis.call('DEL', KEYS[2], KEYS[3])
  bytes = 0
  evicted = seq
end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', f(seq), 'evicted', f(evicted), 'bytes', f(bytes))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[4], now + ttl, ARGV[8])
redis.call('PUBLISH', ARGV[7], id .. '\\n' .. ARGV[2])
return { tonumber(epoch), first }
`;

/**
 * KEYS: meta, log. ARGV: after epoch ('' = from the oldest held), after seq, up to seq (0 = the
 * newest), max entries (0 = all). Returns {} for a group with no shared history, else
 * { epoch, seq, evicted, bytes, entries }. A start the log cannot serve (another epoch, evicted,
 * not issued) reads from the oldest held entry; the caller reports the gap. With an upper bound
 * (filling a hole) a different epoch reads nothing.
 */
const RANGE = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'evicted', 'bytes')
if not m[1] then return {} end
local epoch, seq, evicted = m[1], tonumber(m[2]), tonumber(m[3])
local from = evicted + 1
if ARGV[1] == epoch then
  local after = tonumber(ARGV[2])
  if after >= evicted and after <= seq then from = after + 1 end
end
local entries = {}
if from <= seq and (ARGV[3] == '0' or ARGV[1] == epoch) then
  local upto = '+'
  if ARGV[3] ~= '0' then upto = epoch .. '-' .. ARGV[3] end
  local start = epoch .. '-' .. string.format('%.0f', from)
  if tonumber(ARGV[4]) > 0 then
    entries = redis.call('XRANGE', KEYS[2], start, upto, 'COUNT', ARGV[4])
  else
    entries = redis.call('XRANGE', KEYS[2], start, upto)
  end
end
return { epoch, m[2], m[3], m[4], entries }
`;

/** KEYS: nodes. ARGV: node, expiry ms. Marks the node alive, drops expired ones; returns live nodes. */
const HEARTBEAT = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`;

/** KEYS: nodes, groups. Drops what expired; returns { live nodes, groups with shared history }. */
const LIVE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return { redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('ZRANGE', KEYS[2], 0, -1) }
`;

/**
 * KEYS: groups, then meta, log, sizes of each group. ARGV: ttl ms, then the group names. Keeps
 * the shared history of groups that still have members from expiring.
 */
const TOUCH = `${NOW}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  local k = 2 + (i - 2) * 3
  if redis.call('PEXPIRE', KEYS[k], ttl) == 1 then
    redis.call('PEXPIRE', KEYS[k + 1], ttl)
    redis.call('PEXPIRE', KEYS[k + 2], ttl)
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  end
end
return 0
`;

type Arg = string | number | Uint8Array;
type Reply<T> = Promise<T>;

/** The scripts as commands of a connection (ioredis sends EVALSHA, and EVAL once if Redis lacks the script). */
export interface Scripted {
  gcPublish(...args: Arg[]): Reply<[number, number]>;
  gcRangeBuffer(...args: Arg[]): Reply<RangeReply>;
  gcHeartbeat(...args: Arg[]): Reply<number>;
  gcLive(...args: Arg[]): Reply<[string[], string[]]>;
  gcTouch(...args: Arg[]): Reply<number>;
}

export interface ScriptedPipeline extends ChainableCommander {
  gcPublish(...args: Arg[]): ScriptedPipeline;
}

/** { epoch, seq, evicted, bytes, [[id, [field, blob]], ...] }, or [] for no shared history. */
export type RangeReply = [] | [Buffer, Buffer, Buffer, Buffer, [Buffer, Buffer[]][]];

export function defineScripts(redis: Redis): Redis & Scripted {
  redis.defineCommand('gcPublish', { numberOfKeys: 4, lua: PUBLISH });
  redis.defineCommand('gcRange', { numberOfKeys: 2, lua: RANGE });
  redis.defineCommand('gcHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
  redis.defineCommand('gcLive', { numberOfKeys: 2, lua: LIVE });
  // The number of keys depends on the number of groups: passed first at each call.
  redis.defineCommand('gcTouch', { lua: TOUCH });
  return redis as Redis & Scripted;
}
