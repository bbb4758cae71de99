import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import { isUtf8, textDecoder, toBase64 } from '../shared/bytes.ts';
import { compileAllowlist } from '../shared/cidr.ts';
import { type ErrorCode, GroupcastError, GroupNotFoundError } from '../shared/errors.ts';
import { validateGroupId } from '../shared/group-id.ts';
import type { Hub, StartPoint } from '../shared/hub.ts';
import { ipOf, RateLimiter, StreamCounter } from './address-limits.ts';
import { Authenticator, authConfigured, type Grants, requireGrant, tokenOf } from './auth.ts';
import { readBody } from './body.ts';
import { mountDashboard } from './dashboard/routes.ts';
import { pathOf, refuseDotSegments } from './dot-segments.ts';
import { errorResponse } from './errors.ts';
import { Heartbeat } from './heartbeat.ts';
import type { ApiOptions } from './options.ts';
import { type PublishHandler, publishHandler } from './publish.ts';
import type { SseSink } from './sse-sink.ts';
import { SseStream } from './sse-stream.ts';
import { type SubscribeHandler, subscribeHandler } from './subscribe.ts';

export type { ApiOptions } from './options.ts';

/** What only a runtime entry can provide; the core stays portable. */
export interface ApiRuntime {
  /** The client's address (`ip:port`), for allowlists, limits, listings and logs. */
  remoteAddress?: (c: Context) => string;
  /** Told about unexpected errors (answered as 500 INTERNAL). */
  logError?: (err: unknown, c: Context) => void;
  /** Told about every refused request, by error code (for metrics). */
  onRejected?: (code: ErrorCode) => void;
  /** Extra headers on SSE responses (Node's adapter starts streaming sooner with an explicit chunked encoding). */
  sseHeaders?: Record<string, string>;
  /** Opens an SSE response's sink (Node: written straight to its response); a Web ReadableStream by default. */
  openSse?: (c: Context, remote: string, limitBytes: number) => SseSink;
  /** Drops a response's connection at once, e.g. to cut a slow subscriber without noise. */
  dropConnection?: (c: Context) => void;
  /**
   * The request path exactly as the client sent it, where the runtime's Request has already
   * collapsed `.` and `..` segments (Node's adapter does; Deno keeps the URL as sent).
   */
  rawPath?: (c: Context) => string;
}

/** @default 100, at most 1000 */
export const DEFAULT_HISTORY_PAGE = 100;
export const MAX_HISTORY_PAGE = 1000;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
};

function historyLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_HISTORY_PAGE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_PAGE) {
    throw new GroupcastError(
      'BAD_REQUEST',
      `limit must be an integer from 1 to ${MAX_HISTORY_PAGE}`,
    );
  }
  return n;
}

function groupParam(c: Context): string {
  return validateGroupId(c.req.param('group') ?? '');
}

/**
 * The HTTP/SSE API over any Hub. Web-standard only (Request, Response, ReadableStream), so the
 * sidecar (Node) and the edge worker (Deno) serve the same app.
 */
export function createApi(hub: Hub, options: ApiOptions, runtime: ApiRuntime = {}): Hono {
  return createApiParts(hub, options, runtime).app;
}

/** The app, and what a runtime's own fast path for `POST /groups/:group/messages` shares with it. */
export interface ApiParts {
  app: Hono;
  /** The route's handler: same limits, rate buckets and errors as the app's. */
  publish: PublishHandler;
  /** Whether the HTTP allowlist admits a client (`ip:port`). */
  admits: (remote: string) => boolean;
  /** Verifies tokens (auth on), else null. */
  auth: Authenticator | null;
  /** CORS origins are configured: the app's middleware adds headers to every answer. */
  cors: boolean;
  /** The SSE route's handler: same checks, limits, resume and heartbeat as the app's. */
  subscribe: SubscribeHandler;
  /** The headers of the SSE route's answers. */
  sseHeaders: Readonly<Record<string, string>>;
}

export function createApiParts(hub: Hub, options: ApiOptions, runtime: ApiRuntime = {}): ApiParts {
  const app = new Hono();
  const remoteAddress = runtime.remoteAddress ?? (() => '');
  const sseHeaders = { ...SSE_HEADERS, ...runtime.sseHeaders };
  const heartbeat = new Heartbeat(options.heartbeatMs);
  const origins = new Set(options.corsOrigins);
  const allowed = compileAllowlist(options.httpAllow);
  const auth = authConfigured(options) ? new Authenticator(options) : null;
  const streams = new StreamCounter(options.maxSsePerIp);
  const rate = options.rateLimit > 0 ? new RateLimiter(options.rateLimit, options.rateBurst) : null;
  /** The caller's grants, or undefined when auth is off (everything allowed). */
  const grants = (c: Context): Promise<Grants> | undefined => auth?.verify(tokenOf(c));

  // Outside the route on purpose: a closure over `c` there would keep each request's Context
  // (about 2 KiB) alive for as long as its stream is open.
  const openSse =
    runtime.openSse ??
    ((c: Context, remote: string, limit: number): SseSink => {
      const drop = runtime.dropConnection;
      return new SseStream(remote, limit, drop && (() => drop(c)));
    });
  const rawPath = runtime.rawPath ?? ((c: Context) => pathOf(c.req.url));
  app.use('*', (c, next) => {
    refuseDotSegments(rawPath(c));
    return next();
  });

  if (options.httpAllow.length > 0) {
    app.use('*', async (c, next) => {
      if (!allowed(ipOf(remoteAddress(c)))) {
        throw new GroupcastError('ADDRESS_NOT_ALLOWED', 'this address may not use the API');
      }
      await next();
    });
  }

  // Only when origins are configured: the middleware touches every response's headers, which
  // costs Node's adapter its fast path.
  if (origins.size > 0) {
    app.use(
      '*',
      cors({
        origin: (origin) => (origins.has('*') || origins.has(origin) ? origin : null),
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Content-Type', 'Last-Event-ID', 'Authorization'],
        maxAge: 600,
      }),
    );
  }

  const publish = publishHandler(hub, options, rate);
  app.post('/groups/:group/messages', async (c) =>
    c.json(
      await publish({
        group: c.req.param('group') ?? '',
        contentType: c.req.header('content-type'),
        contentLength: c.req.header('content-length'),
        remote: remoteAddress(c),
        grants: () => grants(c),
        body: (limit, what) => readBody(c.req.raw, limit, what),
      }),
      202,
    ),
  );

  const subscribe = subscribeHandler(hub, options, streams, heartbeat);
  app.get('/groups/:group/events', async (c) => {
    const stream = await subscribe({
      group: c.req.param('group') ?? '',
      query: (name) => c.req.query(name),
      lastEventId: c.req.header('last-event-id'),
      head: c.req.method === 'HEAD',
      remote: remoteAddress(c),
      grants: () => grants(c),
      open: (remote, limit) => openSse(c, remote, limit),
    });
    return stream
      ? stream.response(sseHeaders)
      : new Response(null, { status: 200, headers: sseHeaders });
  });

  app.get('/groups/:group/messages', async (c) => {
    const name = groupParam(c);
    requireGrant(await grants(c), 'subscribe', name);
    const after = c.req.query('after');
    const start: StartPoint = after ? { kind: 'after', id: after } : { kind: 'earliest' };
    const page = await hub.history(name, start, historyLimit(c.req.query('limit')));
    if (!page) throw new GroupNotFoundError(name);
    return c.json({
      group: page.group,
      messages: page.messages.map((m) =>
        isUtf8(m.data)
          ? { id: m.id, time: m.time, encoding: 'utf8', data: textDecoder.decode(m.data) }
          : { id: m.id, time: m.time, encoding: 'base64', data: toBase64(m.data) },
      ),
      gap: page.gap,
      lastId: page.lastId,
      more: page.more,
    });
  });

  app.get('/groups', async (c) => {
    const g = await grants(c);
    const all = await hub.groups();
    return c.json({ groups: g ? all.filter((s) => g.subscribe(s.group)) : all });
  });

  app.get('/groups/:group', async (c) => {
    const name = groupParam(c);
    requireGrant(await grants(c), 'subscribe', name);
    const detail = await hub.group(name);
    if (!detail) throw new GroupNotFoundError(name);
    return c.json(detail);
  });

  app.get('/healthz', async (c) => {
    const health = await hub.health();
    const failing =
      health.status === 'down' || (health.status === 'degraded' && options.healthStrict === true);
    return c.json(health, failing ? 503 : 200);
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    return c.body(await hub.metrics());
  });

  if (options.dashboard !== false) mountDashboard(app);

  const methodNotAllowed = (allow: string) => (c: Context) => {
    c.header('Allow', allow);
    return errorResponse(c, new GroupcastError('METHOD_NOT_ALLOWED', `use ${allow}`));
  };
  app.all('/groups/:group/messages', methodNotAllowed('GET, POST'));
  app.all('/groups/:group/events', methodNotAllowed('GET'));
  app.all('/groups/:group', methodNotAllowed('GET'));
  app.all('/groups', methodNotAllowed('GET'));

  app.notFound((c) =>
    errorResponse(c, new GroupcastError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)),
  );
  app.onError((err, c) => {
    if (err instanceof GroupcastError) runtime.onRejected?.(err.code);
    else runtime.logError?.(err, c);
    return errorResponse(c, err);
  });
  return {
    app,
    publish,
    admits: (remote) => options.httpAllow.length === 0 || allowed(ipOf(remote)),
    auth,
    cors: origins.size > 0,
    subscribe,
    sseHeaders,
  };
}
