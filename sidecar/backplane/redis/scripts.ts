import type { Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis backplane. A shared batch never passes through Lua: Redis hashes
 * every byte of a Lua string (measured: about 1.5 µs per KiB, 100 µs for a 64 KiB batch), so the
 * batch is stored (HSET) and published (PUBLISH) by plain commands, and the script between them
 * in the same MULTI/EXEC only numbers it and keeps the history's index. MULTI/EXEC runs the three
 * at once: ids are contiguous per group, and every subscriber receives each batch's id message
 * immediately followed by the batch, in the order of the ids. Numbers are formatted with %.0f:
 * Lua 5.1 prints large numbers in exponent notation otherwise.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Splits an index entry `<last seq> <bytes> <field>`. */
const ENTRY = `
local function entry(e)
  local a = string.find(e, ' ')
  local b = string.find(e, ' ', a + 1)
  return tonumber(string.sub(e, 1, a - 1)), tonumber(string.sub(e, a + 1, b - 1)), string.sub(e, b + 1)
end
`;

/**
 * KEYS: meta, index, blobs, groups. ARGV: count, field (where the batch was just stored in
 * blobs), wire bytes, max messages, max bytes, key ttl ms, channel, group. Publishes the batch's
 * id `<epoch>-<last seq>` on the channel (the batch follows it) and returns { epoch, first seq }.
 */
const NUMBER_BODY = `
local size = tonumber(ARGV[3])
local maxMessages = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local function f(x) return string.format('%.0f', x) end
local function dropAll()
  for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local _, _, old = entry(e)
    redis.call('HDEL', KEYS[3], old)
  end
  redis.call('DEL', KEYS[2])
end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'evicted', 'bytes')
local epoch = m[1]
local seq, evicted, bytes = 0, 0, 0
if epoch then
  seq, evicted, bytes = tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
elseif n > 0 then
  -- A new sequence starts at the cluster's clock: ids grow across re-creations of the group.
  epoch = f(now)
  dropAll()
else
  epoch = '0'
end
if n == 0 then
  -- Framing-only bytes (blank lines): passed on in order, not numbered, not kept.
  redis.call('HDEL', KEYS[3], field)
  redis.call('PUBLISH', ARGV[7], epoch .. '-' .. f(seq))
  return { tonumber(epoch), seq + 1 }
end
local first = seq + 1
seq = seq + n
if maxMessages > 0 and size <= maxBytes then
  redis.call('RPUSH', KEYS[2], f(seq) .. ' ' .. f(size) .. ' ' .. field)
  bytes = bytes + size
  -- The same eviction as the in-memory history: whole batches while over either limit, or
  -- part of the oldest when only the message count is over.
  while seq - evicted > maxMessages or bytes > maxBytes do
    local oldest = redis.call('LINDEX', KEYS[2], 0)
    if not oldest then break end
    local last, osize, ofield = entry(oldest)
    if bytes > maxBytes or last - evicted <= (seq - evicted) - maxMessages then
      redis.call('LPOP', KEYS[2])
      redis.call('HDEL', KEYS[3], ofield)
      bytes = bytes - osize
      evicted = last
    else
      evicted = seq - maxMessages
    end
  end
else
  -- Nothing can be kept: history is off, or this batch alone is larger than the window.
  dropAll()
  redis.call('HDEL', KEYS[3], field)
  bytes = 0
  evicted = seq
end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', f(seq), 'evicted', f(evicted), 'bytes', f(bytes))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[4], now + ttl, ARGV[8])
redis.call('PUBLISH', ARGV[7], epoch .. '-' .. f(seq))
return { tonumber(epoch), first }
`;

const NUMBER = `${NOW}${ENTRY}
local n = tonumber(ARGV[1])
local field = ARGV[2]
${NUMBER_BODY}`;

/**
 * Numbers a hole: ids for messages a node published that the cluster never got (see Outbox).
 * KEYS and ARGV 3-8 as NUMBER; ARGV 1: messages known missing, 2: '' or ':<owner>' (appended to
 * the hole's field `-<count>`), 9: the epoch the messages were meant for ('' = any: a hole in
 * another sequence would be in the wrong place, and the switch of sequence is told already),
 * then pairs of field, count: batches sent but unconfirmed, missing unless blobs holds them.
 * Numbers nothing (returns {}) when nothing is missing.
 */
const HOLE = `${NOW}${ENTRY}
local n = tonumber(ARGV[1])
for i = 10, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then n = n + tonumber(ARGV[i + 1]) end
end
if n == 0 then return {} end
if ARGV[9] ~= '' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[9] then return {} end
local field = '-' .. string.format('%.0f', n) .. ARGV[2]
${NUMBER_BODY}`;

/**
 * KEYS: meta, index. ARGV: after epoch ('' = from the oldest held), after seq, up to seq (0 = the
 * newest), max entries (0 = all). Returns {} for a group with no shared history, else
 * { epoch, seq, evicted, bytes, index entries }; the caller reads the batches from blobs. A start
 * the history cannot serve (another epoch, evicted, not issued) reads from the oldest held batch
 * and the caller reports the gap. With an upper bound (filling a hole) another epoch reads nothing.
 */
const RANGE = `${ENTRY}
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'evicted', 'bytes')
if not m[1] then return {} end
local epoch, seq, evicted = m[1], tonumber(m[2]), tonumber(m[3])
local from = evicted + 1
if ARGV[1] == epoch then
  local after = tonumber(ARGV[2])
  if after >= evicted and after <= seq then from = after + 1 end
end
local upto = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local out = {}
if from <= seq and (upto == 0 or ARGV[1] == epoch) then
  for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local last = entry(e)
    if upto > 0 and last > upto then break end
    if last >= from then
      out[#out + 1] = e
      if max > 0 and #out >= max then break end
    end
  end
end
return { epoch, m[2], m[3], m[4], out }
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
 * KEYS: groups, then meta, index, blobs of each group. ARGV: ttl ms, then the group names. Keeps
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
  gcNumber(...args: Arg[]): Reply<unknown>;
  gcHole(...args: Arg[]): Reply<unknown>;
  gcRange(...args: Arg[]): Reply<RangeReply>;
  gcHeartbeat(...args: Arg[]): Reply<number>;
  gcLive(...args: Arg[]): Reply<[string[], string[]]>;
  gcTouch(...args: Arg[]): Reply<number>;
}

/** { epoch, seq, evicted, bytes, index entries }, or [] for no shared history. */
export type RangeReply = [] | [string, string, string, string, string[]];

export function defineScripts(redis: Redis): Redis & Scripted {
  redis.defineCommand('gcNumber', { numberOfKeys: 4, lua: NUMBER });
  redis.defineCommand('gcHole', { numberOfKeys: 4, lua: HOLE });
  redis.defineCommand('gcRange', { numberOfKeys: 2, lua: RANGE });
  redis.defineCommand('gcHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
  redis.defineCommand('gcLive', { numberOfKeys: 2, lua: LIVE });
  // The number of keys depends on the number of groups: passed first at each call.
  redis.defineCommand('gcTouch', { lua: TOUCH });
  return redis as Redis & Scripted;
}
