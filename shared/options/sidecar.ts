import { compileAllowlist } from '../cidr.ts';
import { InvalidOptionError } from '../errors.ts';
import { FRAMINGS, type FramingName } from '../framing/index.ts';
import { validateGroupId } from '../group-id.ts';
import type { ApiOptions } from './api.ts';
import {
  type GroupHostPort,
  type HostPort,
  parseBool,
  parseBytes,
  parseDuration,
  parseEnum,
  parseGroupHostPort,
  parseHostPort,
  parseInteger,
  parseList,
  parsePort,
  parseString,
  parseUrl,
  Reason,
} from './parse.ts';
import {
  type OptionAlias,
  type OptionSpec,
  optionSpec,
  parseArgv,
  type Resolved,
  resolveOptions,
  underscoreSpelling,
} from './resolve.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** auto: one readable line per event on a terminal, JSON lines otherwise (a pipe, a file). */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const DEFAULT_LOG_FORMAT: LogFormat = 'auto';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const DEFAULT_HOST = '127.0.0.1';
/** SocketForwarder binds every interface; so does groupcast when started with its keys. */
export const DEFAULT_SF_HOST = '0.0.0.0';
export const DEFAULT_TCP_PORT = 7400;
export const DEFAULT_UDP_PORT = 7401;
export const DEFAULT_HTTP_PORT = 7480;
/** Redis pub/sub (RESP) port: beside Redis's 6379, so a client changes only its address. */
export const DEFAULT_RESP_PORT = 7379;
/** Channels, patterns and shard channels one RESP connection may hold at once. */
export const DEFAULT_RESP_MAX_SUBSCRIPTIONS = 10_000;
/**
 * Pattern subscriptions (PSUBSCRIBE) held by the sidecar, every connection together: each new
 * group is matched against all of them.
 */
export const DEFAULT_RESP_MAX_PATTERNS = 10_000;
export const DEFAULT_PREFIX = 'SOCKETFORWARDER-NEW:';
export const DEFAULT_TCP_FRAMING: FramingName = 'line';
export const DEFAULT_SF_TCP_FRAMING: FramingName = 'raw';
export const DEFAULT_MAX_MESSAGE_BYTES = 1 * MiB;
export const DEFAULT_MAX_BODY_BYTES = 16 * MiB;
/**
 * Messages in one NDJSON request. Each costs the hub its bookkeeping whatever its size, so a body
 * of one-byte lines must not count as 8 million messages.
 */
export const DEFAULT_MAX_BATCH_MESSAGES = 10_000;
export const DEFAULT_UDP_GROUP = 'udp';
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;
export const DEFAULT_LEGACY_JOIN_WAIT_MS = 50;
export const DEFAULT_MAX_PENDING_BYTES = 8 * MiB;
export const DEFAULT_TCP_KEEPALIVE_MS = 30_000;
export const DEFAULT_MAX_CONNECTIONS = 50_000;
/** Accept queue asked of the kernel; Linux caps it at net.core.somaxconn (4096 by default since 5.4). */
export const DEFAULT_LISTEN_BACKLOG = 4096;
export const DEFAULT_MAX_GROUPS = 10_000;
export const DEFAULT_MAX_MEMBERS_PER_GROUP = 10_000;
export const DEFAULT_HISTORY_MESSAGES = 1000;
export const DEFAULT_HISTORY_BYTES = 16 * MiB;
export const DEFAULT_GROUP_TTL_MS = 10 * 60_000;
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_SSE_QUEUE_BYTES = 4 * MiB;
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;
/** node:http's own default: a request head must be complete this long after it began. */
export const DEFAULT_HTTP_HEAD_TIMEOUT_MS = 60_000;
/** A recipient's unsent bytes above which its group's pausable publishers wait. */
export const DEFAULT_FLOW_HIGH_WATER = 1 * MiB;
/** A recipient over the high-water mark that takes nothing for this long is cut (Mercure: 5 s; NATS: 10 s). */
export const DEFAULT_STALL_TIMEOUT_MS = 5_000;
/** How long a POST waits for a congested group: past the stall timeout, so a stopped member is cut first. */
export const DEFAULT_PUBLISH_WAIT_MS = 10_000;
/** Memory for history, queues, partial frames and bodies in flight: fits beside Node on a 1 GiB VM. */
export const DEFAULT_MEMORY_BUDGET = 256 * MiB;
export const DEFAULT_REDIS_PREFIX = 'groupcast:';
export const DEFAULT_REDIS_QUEUE_BYTES = 32 * MiB;
/** Join and leave events sent to Redis and not answered yet: past it more are not shared (counted). */
export const DEFAULT_REDIS_PRESENCE_QUEUE = 10_000;
/** A hole read back from the shared history waits this long for Redis to answer (more than a 5 s command timeout plus a 2 s reconnection). */
export const DEFAULT_REDIS_READ_BACK_WAIT_MS = 10_000;
export const DEFAULT_NODE_HEARTBEAT_MS = 2_000;
export const DEFAULT_NODE_EXPIRY_MS = 10_000;
/** Node ids go into Redis key names and listings: short, printable, no separators. */
export const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 1_000;
export const DEFAULT_MAX_SSE_PER_IP = 1_000;
/** Messages a second per connection (or UDP sender, or HTTP client); 0 = unlimited. */
export const DEFAULT_RATE_LIMIT = 0;
export const DEFAULT_RATE_LIMIT_ACTION: RateLimitAction = 'drop';
/**
 * UDP registrations one source IP address may hold: one host cannot fill the UDP group (and
 * multiply every datagram by thousands) while a peer elsewhere is refused.
 */
export const DEFAULT_UDP_REGISTRATIONS_PER_IP = 32;
/**
 * Datagrams the UDP group sends a second, all members together; past it datagrams are dropped and
 * counted (`udp_send_rate`), so a few datagrams in can never become an unbounded flood out.
 */
export const DEFAULT_UDP_SEND_RATE = 100_000;

/** The sidecar's options: the API's (ApiOptions) plus its listeners, members, history and cluster. */
export interface SidecarOptions extends ApiOptions {
  config: string | null;
  host: string;
  tcpPort: number | null;
  udpPort: number | null;
  httpPort: number | null;
  respPort: number | null;
  respMaxSubscriptions: number;
  respMaxPatterns: number;
  prefix: string;
  tcpFraming: FramingName;
  udpGroup: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  tcpPreconfig: GroupHostPort[];
  udpPreconfig: HostPort[];
  joinTimeoutMs: number;
  legacyJoinWaitMs: number;
  maxPendingBytes: number;
  flowHighWater: number;
  stallTimeoutMs: number;
  publishWaitMs: number;
  memoryBudget: number;
  idleTrim: boolean;
  tcpKeepaliveMs: number;
  listenBacklog: number;
  maxConnections: number;
  maxGroups: number;
  maxMembersPerGroup: number;
  historyMessages: number;
  historyBytes: number;
  groupTtlMs: number;
  dashboard: boolean;
  httpFront: boolean;
  httpHeadTimeoutMs: number;
  shutdownGraceMs: number;
  redisUrl: string | null;
  redisPrefix: string;
  redisQueueBytes: number;
  redisPresenceQueue: number;
  redisReadBackWaitMs: number;
  nodeId: string | null;
  nodeHeartbeatMs: number;
  nodeExpiryMs: number;
  healthStrict: boolean;
  joinSecrets: JoinSecret[];
  tcpAllow: string[];
  udpAllow: string[];
  udpRegisteredOnly: boolean;
  udpRegistrationTtlMs: number;
  udpRegistrationsPerIp: number;
  udpSendRate: number;
  maxConnectionsPerIp: number;
  rateLimitAction: RateLimitAction;
}

export interface JoinSecret {
  /** Group pattern (`*` wildcards). */
  pattern: string;
  secret: string;
}

export const RATE_LIMIT_ACTIONS = ['drop', 'disconnect'] as const;
export type RateLimitAction = (typeof RATE_LIMIT_ACTIONS)[number];

/** SocketForwarder's keys, dotted as it reads them, plus the underscore spelling for shells. */
function sf(...keys: string[]): OptionAlias[] {
  return keys.flatMap((k) => [underscoreSpelling(k), k]);
}

const spec = optionSpec<keyof SidecarOptions>;

const port = (raw: unknown) => parsePort(raw);
const optionalString = (r: unknown) => parseString(r);

function cidrList(raw: unknown): string[] {
  const list = parseList(raw);
  try {
    compileAllowlist(list);
  } catch (err) {
    throw new Reason((err as Error).message);
  }
  return list;
}

function joinSecrets(raw: unknown): JoinSecret[] {
  return parseList(raw).map((entry) => {
    const at = entry.indexOf(':');
    if (at <= 0 || at === entry.length - 1)
      throw new Reason(`group-pattern:secret, got ${JSON.stringify(entry)}`);
    const secret = entry.slice(at + 1);
    if (/[\s\p{Cc}]/u.test(secret))
      throw new Reason('secrets without whitespace or control characters');
    return { pattern: entry.slice(0, at), secret };
  });
}

export const SIDECAR_OPTIONS: readonly OptionSpec[] = [
  spec(
    'config',
    'CONFIG',
    null,
    'JSON file of options (keys as in this table)',
    (r) => parseString(r),
    {
      defaultDoc: 'none',
    },
  ),
  spec(
    'host',
    'HOST',
    DEFAULT_HOST,
    'address every listener binds (TCP, UDP, HTTP, RESP)',
    (r) => parseString(r),
    {
      aliases: sf('socketforwarder.host_address'),
      defaultDoc: `${DEFAULT_HOST} (${DEFAULT_SF_HOST} when started with SocketForwarder keys)`,
    },
  ),
  spec(
    'tcpPort',
    'TCP_PORT',
    DEFAULT_TCP_PORT,
    'raw TCP listener port; 0 picks a free port, off disables',
    port,
    {
      aliases: sf('socketforwarder.tcp.port', 'socketforwarder.tcp_port'),
    },
  ),
  spec(
    'udpPort',
    'UDP_PORT',
    DEFAULT_UDP_PORT,
    'UDP listener port; 0 picks a free port, off disables',
    port,
    {
      aliases: sf('socketforwarder.udp.port', 'socketforwarder.udp_port'),
    },
  ),
  spec(
    'httpPort',
    'HTTP_PORT',
    DEFAULT_HTTP_PORT,
    'HTTP/SSE API port; 0 picks a free port, off disables',
    port,
  ),
  spec(
    'respPort',
    'RESP_PORT',
    DEFAULT_RESP_PORT,
    'Redis pub/sub (RESP2/RESP3) port: Redis clients become group members; 0 picks a free port, off disables',
    port,
  ),
  spec(
    'respMaxSubscriptions',
    'RESP_MAX_SUBSCRIPTIONS',
    DEFAULT_RESP_MAX_SUBSCRIPTIONS,
    'channels, patterns and shard channels one RESP connection may hold',
    (r) => parseInteger(r, 1, 1_000_000),
  ),
  spec(
    'respMaxPatterns',
    'RESP_MAX_PATTERNS',
    DEFAULT_RESP_MAX_PATTERNS,
    'pattern subscriptions (PSUBSCRIBE) the sidecar holds, all RESP connections together',
    (r) => parseInteger(r, 0, 1_000_000),
  ),
  spec(
    'prefix',
    'PREFIX',
    DEFAULT_PREFIX,
    'join prefix for TCP groups and UDP registration',
    (r) => {
      const s = parseString(r);
      if (/[\r\n]/.test(s)) throw new Reason('a prefix without line breaks');
      return s;
    },
    { aliases: sf('socketforwarder.new_client_prefix') },
  ),
  spec(
    'tcpFraming',
    'TCP_FRAMING',
    DEFAULT_TCP_FRAMING,
    'where a TCP message ends: line, raw (each read) or length (4-byte big-endian prefix)',
    (r) => parseEnum(r, FRAMINGS),
    {
      defaultDoc: `${DEFAULT_TCP_FRAMING} (${DEFAULT_SF_TCP_FRAMING} when started with SocketForwarder keys)`,
    },
  ),
  spec(
    'maxMessageBytes',
    'MAX_MESSAGE_BYTES',
    DEFAULT_MAX_MESSAGE_BYTES,
    'largest message, any transport',
    (r) => parseBytes(r, 1, 64 * MiB),
    { aliases: sf('socketforwarder.max_read_in_size'), defaultDoc: '1 MiB' },
  ),
  spec(
    'maxBodyBytes',
    'MAX_BODY_BYTES',
    DEFAULT_MAX_BODY_BYTES,
    'largest HTTP request body (an NDJSON batch)',
    (r) => parseBytes(r, 1, GiB),
    { defaultDoc: '16 MiB' },
  ),
  spec(
    'maxBatchMessages',
    'MAX_BATCH_MESSAGES',
    DEFAULT_MAX_BATCH_MESSAGES,
    'messages in one NDJSON request; past it the request is refused (413 TOO_MANY_MESSAGES)',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec('udpGroup', 'UDP_GROUP', DEFAULT_UDP_GROUP, 'name of the group UDP peers belong to', (r) =>
    validateGroupId(parseString(r)),
  ),
  spec(
    'logLevel',
    'LOG_LEVEL',
    'info',
    `log level: ${LOG_LEVELS.join(', ')}`,
    (r) => parseEnum(r, LOG_LEVELS),
    {
      aliases: [
        { env: 'SOCKETFORWARDER_DEBUG', map: () => 'debug' },
        { env: 'socketforwarder.debug', map: () => 'debug' },
      ],
    },
  ),
  spec(
    'logFormat',
    'LOG_FORMAT',
    DEFAULT_LOG_FORMAT,
    'log lines: pretty (time, level, message), json (one object a line), or auto (pretty on a terminal, else json)',
    (r) => parseEnum(r, LOG_FORMATS),
  ),
  spec(
    'tcpPreconfig',
    'TCP_PRECONFIG',
    [],
    'group:host:port,... connections from exactly that address join that group with no join line',
    (r) =>
      parseList(r)
        .map(parseGroupHostPort)
        .map((g) => ({ ...g, group: validateGroupId(g.group) })),
    { aliases: sf('socketforwarder.tcp.preconfig_addresses'), defaultDoc: 'none' },
  ),
  spec(
    'udpPreconfig',
    'UDP_PRECONFIG',
    [],
    'host:port,... UDP addresses registered from start-up',
    (r) => parseList(r).map(parseHostPort),
    { aliases: sf('socketforwarder.udp.preconfig_addresses'), defaultDoc: 'none' },
  ),
  spec(
    'joinTimeoutMs',
    'JOIN_TIMEOUT',
    DEFAULT_JOIN_TIMEOUT_MS,
    'time a new TCP connection has to send its join line',
    (r) => parseDuration(r, 1, 3600e3),
    { defaultDoc: '10s' },
  ),
  spec(
    'legacyJoinWaitMs',
    'LEGACY_JOIN_WAIT',
    DEFAULT_LEGACY_JOIN_WAIT_MS,
    'a join line with no newline (SocketForwarder clients) completes after this much quiet; 0 requires the newline',
    (r) => parseDuration(r, 0, 10e3),
    { defaultDoc: '50ms' },
  ),
  spec(
    'maxPendingBytes',
    'MAX_PENDING_BYTES',
    DEFAULT_MAX_PENDING_BYTES,
    "hard limit on a TCP member's unsent bytes for sources that cannot be paused (UDP, other nodes): past it the member is cut as a slow consumer",
    (r) => parseBytes(r, 1024, 4 * GiB),
    { defaultDoc: '8 MiB' },
  ),
  spec(
    'flowHighWater',
    'FLOW_HIGH_WATER',
    DEFAULT_FLOW_HIGH_WATER,
    "a recipient's unsent bytes above which the group's TCP publishers stop being read and POSTs wait, until it drains to a quarter of this",
    (r) => parseBytes(r, 1024, 4 * GiB),
    { defaultDoc: '1 MiB' },
  ),
  spec(
    'stallTimeoutMs',
    'STALL_TIMEOUT',
    DEFAULT_STALL_TIMEOUT_MS,
    'a recipient over the high-water mark whose connection takes nothing for this long is cut as a slow consumer',
    (r) => parseDuration(r, 10, 3600e3),
    { defaultDoc: '5s' },
  ),
  spec(
    'publishWaitMs',
    'PUBLISH_WAIT',
    DEFAULT_PUBLISH_WAIT_MS,
    'how long a POST into a congested group waits before it is refused with 503 GROUP_BUSY (nothing published)',
    (r) => parseDuration(r, 0, 3600e3),
    { defaultDoc: '10s' },
  ),
  spec(
    'memoryBudget',
    'MEMORY_BUDGET',
    DEFAULT_MEMORY_BUDGET,
    'memory for replay history (with cached encodings and 512 bytes a held batch), member queues, partial frames and request bodies in flight; over it history gives way first, then new work is refused or paused',
    (r) => parseBytes(r, 1 * MiB, 1024 * GiB),
    { defaultDoc: '256 MiB' },
  ),
  spec(
    'idleTrim',
    'IDLE_TRIM',
    true,
    "half a second after the event loop goes idle, give back the young generation V8 grew for a burst (one full collection, about 50 ms at 10,000 members, at most every 10 s); off: V8's own memory reducer does it 10-15 s later",
    (r) => parseBool(r),
    { boolean: true, defaultDoc: 'on' },
  ),
  spec(
    'tcpKeepaliveMs',
    'TCP_KEEPALIVE',
    DEFAULT_TCP_KEEPALIVE_MS,
    'idle time before TCP keepalive probes; 0 turns keepalive off',
    (r) => parseDuration(r, 0, 7200e3),
    { defaultDoc: '30s' },
  ),
  spec(
    'listenBacklog',
    'LISTEN_BACKLOG',
    DEFAULT_LISTEN_BACKLOG,
    'connections the kernel may hold for the TCP and HTTP listeners before they are accepted (a reconnect storm); Linux caps it at net.core.somaxconn',
    (r) => parseInteger(r, 1, 65535),
  ),
  spec(
    'maxConnections',
    'MAX_CONNECTIONS',
    DEFAULT_MAX_CONNECTIONS,
    'open TCP connections, SSE streams and RESP connections',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec('maxGroups', 'MAX_GROUPS', DEFAULT_MAX_GROUPS, 'groups held at once', (r) =>
    parseInteger(r, 1, 10_000_000),
  ),
  spec(
    'maxMembersPerGroup',
    'MAX_MEMBERS_PER_GROUP',
    DEFAULT_MAX_MEMBERS_PER_GROUP,
    'members of one group, all transports',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec(
    'historyMessages',
    'HISTORY_MESSAGES',
    DEFAULT_HISTORY_MESSAGES,
    'messages each group keeps for replay; 0 keeps none',
    (r) => parseInteger(r, 0, 10_000_000),
  ),
  spec(
    'historyBytes',
    'HISTORY_BYTES',
    DEFAULT_HISTORY_BYTES,
    'bytes each group keeps for replay',
    (r) => parseBytes(r, 0, 4 * GiB),
    { defaultDoc: '16 MiB' },
  ),
  spec(
    'groupTtlMs',
    'GROUP_TTL',
    DEFAULT_GROUP_TTL_MS,
    'how long a group with no members keeps its history',
    (r) => parseDuration(r, 0, 30 * 24 * 3600e3),
    { defaultDoc: '10m' },
  ),
  spec(
    'heartbeatMs',
    'HEARTBEAT',
    DEFAULT_HEARTBEAT_MS,
    'SSE comment heartbeat interval',
    (r) => parseDuration(r, 100, 3600e3),
    { defaultDoc: '15s' },
  ),
  spec(
    'sseQueueBytes',
    'SSE_QUEUE_BYTES',
    DEFAULT_SSE_QUEUE_BYTES,
    'bytes queued for one SSE stream before it is cut as a slow consumer',
    (r) => parseBytes(r, 1024, 4 * GiB),
    { defaultDoc: '4 MiB' },
  ),
  spec(
    'corsOrigins',
    'CORS_ORIGINS',
    [],
    'origins allowed to call the API from a browser (comma-separated, * for any)',
    (r) => parseList(r),
    { defaultDoc: 'none (same origin only)' },
  ),
  spec(
    'dashboard',
    'DASHBOARD',
    true,
    'serve the dashboard page at / (its files under /_dashboard/); off: / answers 404',
    (r) => parseBool(r),
    { boolean: true, defaultDoc: 'on' },
  ),
  spec(
    'httpFront',
    'HTTP_FRONT',
    true,
    'serve keep-alive POST /groups/:group/messages straight from the socket, the rest through node:http; off: node:http for every request',
    (r) => parseBool(r),
    { boolean: true, defaultDoc: 'on' },
  ),
  spec(
    'httpHeadTimeoutMs',
    'HTTP_HEAD_TIMEOUT',
    DEFAULT_HTTP_HEAD_TIMEOUT_MS,
    'an HTTP request head not complete this long after it began is answered 408 and its connection closed',
    (r) => parseDuration(r, 100, 300e3),
    { defaultDoc: '60s' },
  ),
  spec(
    'shutdownGraceMs',
    'SHUTDOWN_GRACE',
    DEFAULT_SHUTDOWN_GRACE_MS,
    'time to flush pending writes on SIGINT/SIGTERM before sockets are destroyed',
    (r) => parseDuration(r, 0, 60e3),
    { defaultDoc: '2s' },
  ),
  spec(
    'jwtSecret',
    'JWT_SECRET',
    null,
    'turns on HTTP auth: HS256 shared secret that signs tokens',
    optionalString,
    { defaultDoc: 'none' },
  ),
  spec(
    'jwtPublicKey',
    'JWT_PUBLIC_KEY',
    null,
    'turns on HTTP auth: RS256/ES256 public key (PEM text, or a path to a PEM file)',
    optionalString,
    { defaultDoc: 'none' },
  ),
  spec(
    'jwtJwksUrl',
    'JWT_JWKS_URL',
    null,
    'turns on HTTP auth: JWKS URL of the token issuer (RS256/ES256)',
    (r) => parseUrl(r, ['http', 'https']),
    { defaultDoc: 'none' },
  ),
  spec('jwtIssuer', 'JWT_ISSUER', null, 'required `iss` claim of tokens', optionalString, {
    defaultDoc: 'none (not checked)',
  }),
  spec('jwtAudience', 'JWT_AUDIENCE', null, 'required `aud` claim of tokens', optionalString, {
    defaultDoc: 'none (not checked)',
  }),
  spec(
    'apiKeys',
    'API_KEYS',
    [],
    'turns on HTTP auth: static keys (comma-separated), each allowed everything',
    (r) => parseList(r),
    { defaultDoc: 'none' },
  ),
  spec(
    'joinSecrets',
    'JOIN_SECRETS',
    [],
    'group-pattern:secret,... TCP joins of matching groups must send `<prefix><group> <secret>`',
    joinSecrets,
    { defaultDoc: 'none' },
  ),
  spec(
    'tcpAllow',
    'TCP_ALLOW',
    [],
    'source addresses (CIDR list) that may connect over TCP (the raw TCP and the RESP port)',
    cidrList,
    { defaultDoc: 'any' },
  ),
  spec(
    'udpAllow',
    'UDP_ALLOW',
    [],
    'source addresses (CIDR list) whose datagrams are accepted',
    cidrList,
    { defaultDoc: 'any' },
  ),
  spec(
    'httpAllow',
    'HTTP_ALLOW',
    [],
    'source addresses (CIDR list) that may use the HTTP API',
    cidrList,
    { defaultDoc: 'any' },
  ),
  spec(
    'udpRegisteredOnly',
    'UDP_REGISTERED_ONLY',
    false,
    'accept UDP messages only from IP addresses that hold a registration',
    (r) => parseBool(r),
    { boolean: true },
  ),
  spec(
    'udpRegistrationTtlMs',
    'UDP_REGISTRATION_TTL',
    0,
    'a UDP registration expires unless refreshed within this time; 0 = never',
    (r) => parseDuration(r, 0, 30 * 24 * 3600e3),
    { defaultDoc: '0 (never)' },
  ),
  spec(
    'udpRegistrationsPerIp',
    'UDP_REGISTRATIONS_PER_IP',
    DEFAULT_UDP_REGISTRATIONS_PER_IP,
    'UDP registrations one source IP address may hold; past it a registration is refused (counted as TOO_MANY_FROM_ADDRESS)',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec(
    'udpSendRate',
    'UDP_SEND_RATE',
    DEFAULT_UDP_SEND_RATE,
    'datagrams a second the UDP group sends, all members together; past it they are dropped and counted (udp_send_rate)',
    (r) => parseInteger(r, 1, 1_000_000_000),
  ),
  spec(
    'maxConnectionsPerIp',
    'MAX_CONNECTIONS_PER_IP',
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    'open TCP and RESP connections from one IP address (each listener counts its own)',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec(
    'maxSsePerIp',
    'MAX_SSE_PER_IP',
    DEFAULT_MAX_SSE_PER_IP,
    'open SSE streams from one IP address',
    (r) => parseInteger(r, 1, 10_000_000),
  ),
  spec(
    'rateLimit',
    'RATE_LIMIT',
    DEFAULT_RATE_LIMIT,
    'messages a second per TCP connection, UDP sender and HTTP client; 0 = unlimited',
    (r) => parseInteger(r, 0, 1_000_000_000),
    { defaultDoc: '0 (unlimited)' },
  ),
  spec(
    'rateBurst',
    'RATE_BURST',
    0,
    'messages allowed in a burst above the rate; 0 = twice the rate',
    (r) => parseInteger(r, 0, 1_000_000_000),
    { defaultDoc: '0 (2 x rate)' },
  ),
  spec(
    'rateLimitAction',
    'RATE_LIMIT_ACTION',
    DEFAULT_RATE_LIMIT_ACTION,
    'past the rate: drop (and count) or disconnect',
    (r) => parseEnum(r, RATE_LIMIT_ACTIONS),
  ),
  spec(
    'redisUrl',
    'REDIS_URL',
    null,
    'redis:// URL of the backplane shared by several sidecars; unset = in memory',
    (r) => parseUrl(r, ['redis', 'rediss']),
    { flag: 'redis', defaultDoc: 'none' },
  ),
  spec(
    'redisPrefix',
    'REDIS_PREFIX',
    DEFAULT_REDIS_PREFIX,
    'prefix of every Redis key and channel, so several clusters can share one Redis',
    (r) => {
      const s = parseString(r);
      if (/[\s]/.test(s) || s.length > 64) throw new Reason('up to 64 characters, no whitespace');
      return s;
    },
  ),
  spec(
    'redisQueueBytes',
    'REDIS_QUEUE_BYTES',
    DEFAULT_REDIS_QUEUE_BYTES,
    'bytes waiting for Redis (queued or unanswered); past it a batch is not shared (counted) and HTTP answers 503',
    (r) => parseBytes(r, 64 * KiB, 4 * GiB),
    { defaultDoc: '32 MiB' },
  ),
  spec(
    'redisPresenceQueue',
    'REDIS_PRESENCE_QUEUE',
    DEFAULT_REDIS_PRESENCE_QUEUE,
    'join and leave events waiting for Redis to take them (for other nodes); past it an event is not shared (counted)',
    (r) => parseInteger(r, 1, 1_000_000),
  ),
  spec(
    'redisReadBackWaitMs',
    'REDIS_READ_BACK_WAIT',
    DEFAULT_REDIS_READ_BACK_WAIT_MS,
    'how long reading back missed messages waits for Redis to answer (reconnecting) before they count as lost',
    (r) => parseDuration(r, 100, 600e3),
    { defaultDoc: '10s' },
  ),
  spec(
    'nodeId',
    'NODE_ID',
    null,
    "this sidecar's id among the nodes sharing groups (letters, digits, _ . -)",
    (r) => {
      const s = parseString(r);
      if (!NODE_ID_RE.test(s)) throw new Reason('1-64 letters, digits, _ . or -');
      return s;
    },
    { defaultDoc: 'random at each start' },
  ),
  spec(
    'nodeHeartbeatMs',
    'NODE_HEARTBEAT',
    DEFAULT_NODE_HEARTBEAT_MS,
    'how often a node tells Redis it is alive (and refreshes its members)',
    (r) => parseDuration(r, 50, 600e3),
    { defaultDoc: '2s' },
  ),
  spec(
    'nodeExpiryMs',
    'NODE_EXPIRY',
    DEFAULT_NODE_EXPIRY_MS,
    'a node silent this long is dropped from listings with its members; more than the heartbeat',
    (r) => parseDuration(r, 100, 3600e3),
    { defaultDoc: '10s' },
  ),
  spec(
    'healthStrict',
    'HEALTH_STRICT',
    false,
    '/healthz answers 503 when degraded (Redis out of reach), not only when down',
    (r) => parseBool(r),
    { boolean: true },
  ),
];

export interface ResolvedSidecar extends Resolved<SidecarOptions> {
  /** Started with SocketForwarder's keys or arguments: its defaults apply where groupcast's differ. */
  socketForwarderMode: boolean;
}

/**
 * Resolves sidecar options. SocketForwarder's positional `<tcp-port> [udp-port]` arguments are
 * accepted like their flags. A user who starts groupcast the way they started SocketForwarder
 * gets SocketForwarder's defaults (raw framing, every interface), so nothing else must change.
 */
export function resolveSidecarOptions(
  env: Record<string, string | undefined>,
  argv: readonly string[],
  file?: unknown,
): ResolvedSidecar {
  // SocketForwarder's command line: `SocketForwarder <tcp-port> [udp-port]`.
  const { positionals, positionalAt } = parseArgv(SIDECAR_OPTIONS, argv);
  if (positionals.length > 2) {
    throw new InvalidOptionError(
      'arguments',
      positionals.slice(2).join(' '),
      'expected at most <tcp-port> [udp-port]',
    );
  }
  const args = argv.filter((_, i) => !positionalAt.includes(i));
  if (positionals.length > 0) args.push('--tcp-port', positionals[0]);
  if (positionals.length > 1) args.push('--udp-port', positionals[1]);
  const resolved = resolveOptions<SidecarOptions>(SIDECAR_OPTIONS, { env, argv: args, file });
  const socketForwarderMode = resolved.viaAlias.size > 0 || positionals.length > 0;
  const options = { ...resolved.options };
  if (socketForwarderMode) {
    if (!resolved.explicit.has('tcpFraming')) options.tcpFraming = DEFAULT_SF_TCP_FRAMING;
    if (!resolved.explicit.has('host')) options.host = DEFAULT_SF_HOST;
  }
  if (options.maxMessageBytes > options.maxBodyBytes)
    options.maxBodyBytes = options.maxMessageBytes;
  if (options.nodeExpiryMs <= options.nodeHeartbeatMs) {
    throw new InvalidOptionError(
      'nodeExpiryMs',
      options.nodeExpiryMs,
      `expected more than nodeHeartbeatMs (${options.nodeHeartbeatMs} ms)`,
    );
  }
  return { ...resolved, options: deepFreeze(options), socketForwarderMode };
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
