import { InvalidOptionError } from '../errors.ts';
import type { ApiOptions } from './api.ts';
import { parseDuration, parsePort, parseString, parseUrl, Reason } from './parse.ts';
import { type OptionSpec, optionSpec, type Resolved, resolveOptions } from './resolve.ts';
import { type LogFormat, type LogLevel, SIDECAR_OPTIONS } from './sidecar.ts';

export const DEFAULT_EDGE_HOST = '127.0.0.1';
export const DEFAULT_EDGE_PORT = 7490;
export const DEFAULT_SIDECAR_URL = 'http://127.0.0.1:7480';
/** A sidecar request (publish, inspect, history, opening a stream) that takes longer fails. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
/** Three sidecar heartbeats (15 s): a stream this quiet is dead even if TCP did not notice. */
export const DEFAULT_UPSTREAM_IDLE_MS = 45_000;
export const DEFAULT_UPSTREAM_RETRY_MIN_MS = 250;
export const DEFAULT_UPSTREAM_RETRY_MAX_MS = 10_000;
export const DEFAULT_EDGE_SHUTDOWN_GRACE_MS = 2_000;

/** The edge worker's options: where it listens, which sidecar it uses, and the API's limits. */
export interface EdgeOptions extends ApiOptions {
  maxConnections: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  host: string;
  port: number;
  sidecarUrl: string;
  sidecarToken: string | null;
  upstreamTimeoutMs: number;
  upstreamIdleMs: number;
  upstreamRetryMinMs: number;
  upstreamRetryMaxMs: number;
  shutdownGraceMs: number;
}

const spec = optionSpec<keyof EdgeOptions>;

/** The sidecar's spec for an API limit, so the edge reads the same names with the same rules. */
function shared(key: keyof EdgeOptions, doc?: string): OptionSpec {
  const s = SIDECAR_OPTIONS.find((o) => o.key === key);
  if (!s) throw new Error(`no sidecar option ${key}`);
  // SocketForwarder's names mean nothing to an edge worker.
  return { ...s, aliases: undefined, doc: doc ?? s.doc };
}

export const EDGE_OPTIONS: readonly OptionSpec[] = [
  spec('host', 'EDGE_HOST', DEFAULT_EDGE_HOST, 'address the edge worker listens on', (r) =>
    parseString(r),
  ),
  spec(
    'port',
    'EDGE_PORT',
    DEFAULT_EDGE_PORT,
    'port the edge worker listens on; 0 picks a free port',
    (r) => {
      const p = parsePort(r);
      if (p === null) throw new Reason('a port from 0 to 65535');
      return p;
    },
  ),
  spec(
    'sidecarUrl',
    'SIDECAR_URL',
    DEFAULT_SIDECAR_URL,
    'base URL of the sidecar HTTP API the edge worker stands in front of',
    (r) => parseUrl(r, ['http', 'https']).replace(/\/+$/, ''),
  ),
  spec(
    'sidecarToken',
    'SIDECAR_TOKEN',
    null,
    'token sent to the sidecar in an Authorization: Bearer header, for a sidecar that requires one (prefer the environment: flags show in process lists)',
    (r) => {
      const s = parseString(r).trim();
      if (/[\s\p{Cc}]/u.test(s))
        throw new Reason('a token without whitespace or control characters');
      return s;
    },
    { defaultDoc: 'none' },
  ),
  spec(
    'upstreamTimeoutMs',
    'UPSTREAM_TIMEOUT',
    DEFAULT_UPSTREAM_TIMEOUT_MS,
    'time limit for a sidecar request and for opening an upstream stream',
    (r) => parseDuration(r, 100, 600e3),
    { defaultDoc: '10s' },
  ),
  spec(
    'upstreamIdleMs',
    'UPSTREAM_IDLE',
    DEFAULT_UPSTREAM_IDLE_MS,
    'an upstream stream silent this long (no message, no heartbeat) is dropped and reopened',
    (r) => parseDuration(r, 100, 3600e3),
    { defaultDoc: '45s' },
  ),
  spec(
    'upstreamRetryMinMs',
    'UPSTREAM_RETRY_MIN',
    DEFAULT_UPSTREAM_RETRY_MIN_MS,
    'first delay before reopening a failed upstream stream; doubles per failure',
    (r) => parseDuration(r, 1, 600e3),
    { defaultDoc: '250ms' },
  ),
  spec(
    'upstreamRetryMaxMs',
    'UPSTREAM_RETRY_MAX',
    DEFAULT_UPSTREAM_RETRY_MAX_MS,
    'longest delay between attempts to reopen an upstream stream',
    (r) => parseDuration(r, 1, 600e3),
    { defaultDoc: '10s' },
  ),
  shared('maxMessageBytes'),
  shared('maxBodyBytes'),
  shared('maxBatchMessages'),
  shared('heartbeatMs'),
  shared('sseQueueBytes'),
  shared('corsOrigins'),
  shared('maxConnections', 'SSE streams the edge worker serves at once'),
  shared('logLevel'),
  shared('logFormat'),
  // The edge checks its own clients exactly as a sidecar does; GROUPCAST_SIDECAR_TOKEN is what
  // it shows the sidecar.
  shared('jwtSecret'),
  shared(
    'jwtPublicKey',
    'turns on HTTP auth: RS256/ES256 public key as PEM text (the edge worker reads no files)',
  ),
  shared('jwtJwksUrl'),
  shared('jwtIssuer'),
  shared('jwtAudience'),
  shared('apiKeys'),
  shared('httpAllow'),
  shared('maxSsePerIp'),
  shared('rateLimit', 'messages a second per HTTP client; 0 = unlimited'),
  shared('rateBurst'),
  spec(
    'shutdownGraceMs',
    'SHUTDOWN_GRACE',
    DEFAULT_EDGE_SHUTDOWN_GRACE_MS,
    'time open requests get to finish on SIGINT/SIGTERM before the edge worker exits',
    (r) => parseDuration(r, 0, 60e3),
    { defaultDoc: '2s' },
  ),
];

/** Resolves the edge worker's options: defaults < environment < flags; validated and frozen. */
export function resolveEdgeOptions(
  env: Record<string, string | undefined>,
  argv: readonly string[],
): Resolved<EdgeOptions> {
  const resolved = resolveOptions<EdgeOptions>(EDGE_OPTIONS, { env, argv });
  if (resolved.positionals.length > 0) {
    throw new InvalidOptionError('arguments', resolved.positionals.join(' '), 'expected none');
  }
  const options = { ...resolved.options };
  if (options.maxMessageBytes > options.maxBodyBytes)
    options.maxBodyBytes = options.maxMessageBytes;
  if (options.upstreamRetryMinMs > options.upstreamRetryMaxMs) {
    options.upstreamRetryMaxMs = options.upstreamRetryMinMs;
  }
  if (options.jwtPublicKey !== null && !options.jwtPublicKey.includes('-----BEGIN')) {
    throw new InvalidOptionError('jwtPublicKey', '(not PEM)', 'expected the PEM text of the key');
  }
  return { ...resolved, options: deepFreeze(options) };
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
