import { arrayHeader, bulk, integer, mapHeader, type Proto } from './resp-encode.ts';

/**
 * The commands the RESP port answers, with Redis's arity (n: exactly n words with the name;
 * -n: at least n) and what COMMAND INFO says of them. Facts from the Redis command reference.
 */
export interface CommandSpec {
  arity: number;
  flags: string[];
  categories: string[];
  /** Hints for cluster clients (COMMAND INFO's tips). */
  tips?: string[];
  /** Allowed before AUTH when auth is required. */
  noAuth?: boolean;
  /** Allowed in RESP2 subscribed mode. */
  inSubscribed?: boolean;
}

const conn = ['@fast', '@connection'];
const ps = (speed: string) => ['@pubsub', speed];

export const COMMANDS: Record<string, CommandSpec> = {
  ping: {
    arity: -1,
    flags: ['fast'],
    categories: conn,
    tips: ['request_policy:all_shards', 'response_policy:all_succeeded'],
    inSubscribed: true,
  },
  echo: { arity: 2, flags: ['loading', 'stale', 'fast'], categories: conn },
  hello: {
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    categories: conn,
    noAuth: true,
  },
  auth: {
    arity: -2,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    categories: conn,
    noAuth: true,
  },
  client: { arity: -2, flags: [], categories: ['@slow'] },
  select: { arity: 2, flags: ['loading', 'stale', 'fast'], categories: conn },
  quit: {
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    categories: conn,
    noAuth: true,
    inSubscribed: true,
  },
  reset: {
    arity: 1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    categories: conn,
    noAuth: true,
    inSubscribed: true,
  },
  command: { arity: -1, flags: ['loading', 'stale'], categories: ['@slow', '@connection'] },
  info: { arity: -1, flags: ['loading', 'stale'], categories: ['@slow', '@dangerous'] },
  subscribe: {
    arity: -2,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  unsubscribe: {
    arity: -1,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  psubscribe: {
    arity: -2,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  punsubscribe: {
    arity: -1,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  ssubscribe: {
    arity: -2,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  sunsubscribe: {
    arity: -1,
    flags: ['pubsub', 'noscript', 'loading', 'stale'],
    categories: ps('@slow'),
    inSubscribed: true,
  },
  publish: { arity: 3, flags: ['pubsub', 'loading', 'stale', 'fast'], categories: ps('@fast') },
  spublish: { arity: 3, flags: ['pubsub', 'loading', 'stale', 'fast'], categories: ps('@fast') },
  pubsub: { arity: -2, flags: [], categories: ['@slow'] },
};

/** Subcommand arities, by `command|subcommand`. */
export const SUBCOMMANDS: Record<string, number> = {
  'client|id': 2,
  'client|setname': 3,
  'client|getname': 2,
  'client|setinfo': 4,
  'pubsub|channels': -2,
  'pubsub|numsub': -2,
  'pubsub|numpat': 2,
  'pubsub|shardchannels': -2,
  'pubsub|shardnumsub': -2,
};

export function arityOk(arity: number, argc: number): boolean {
  return arity >= 0 ? argc === arity : argc >= -arity;
}

/** The Redis version whose replies the port matches (HELLO, INFO). */
export const REDIS_COMPAT_VERSION = '7.0.15';

/** HELLO's reply: a map (RESP3) or a flat array (RESP2). */
export function helloReply(id: number, proto: Proto): Buffer {
  return Buffer.concat([
    mapHeader(7, proto),
    bulk('server'),
    bulk('redis'),
    bulk('version'),
    bulk(REDIS_COMPAT_VERSION),
    bulk('proto'),
    integer(proto),
    bulk('id'),
    integer(id),
    bulk('mode'),
    bulk('standalone'),
    bulk('role'),
    bulk('master'),
    bulk('modules'),
    arrayHeader(0),
  ]);
}

/** Tips, key specs and subcommands: sets in RESP3 as Redis 7.0 sends them. */
function setHeader(n: number, proto: Proto): Buffer {
  return Buffer.from(`${proto === 3 ? '~' : '*'}${n}\r\n`);
}

function simpleSet(items: string[], proto: Proto): Buffer {
  const head = Buffer.from(`${proto === 3 ? '~' : '*'}${items.length}\r\n`);
  return Buffer.concat([head, ...items.map((f) => Buffer.from(`+${f}\r\n`))]);
}

/** One COMMAND INFO entry (Redis 7: ten fields; no key specs, no subcommands listed). */
export function commandInfo(name: string, proto: Proto): Buffer {
  const c = COMMANDS[name];
  return Buffer.concat([
    arrayHeader(10),
    bulk(name),
    integer(c.arity),
    simpleSet(c.flags, proto),
    integer(0),
    integer(0),
    integer(0),
    simpleSet(c.categories, proto),
    setHeader(c.tips?.length ?? 0, proto),
    ...(c.tips ?? []).map((t) => bulk(t)),
    setHeader(0, proto),
    setHeader(0, proto),
  ]);
}
