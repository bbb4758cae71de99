import type { Context, Hono } from 'hono';
import type { TcpConnect } from '../../shared/client/tcp-transport.ts';
import type { ErrorCode } from '../../shared/errors.ts';
import { type EdgeOptions, resolveEdgeOptions } from '../../shared/options/edge.ts';
import { type ApiRuntime, createApiParts } from '../app.ts';
import { type WebFastPath, webPublishPath } from '../web-publish.ts';
import { edgeLog } from './edge-log.ts';
import { type EdgeLog, RemoteHub } from './remote-hub.ts';

export interface Edge {
  app: Hono;
  /**
   * `POST /groups/:group/messages` without Hono's router and Context (null when CORS is on): a
   * runtime tries it first and serves `app.fetch` when it returns null.
   */
  publishPath: WebFastPath | null;
  hub: RemoteHub;
  options: Readonly<EdgeOptions>;
  log: EdgeLog;
}

/**
 * The edge worker, runtime-neutral: options from an environment and flags, a RemoteHub to the
 * sidecar, and the same API the sidecar serves. Any fetch runtime can serve `app.fetch`.
 */
export function createEdge(
  env: Record<string, string | undefined>,
  argv: readonly string[] = [],
  {
    terminal = false,
    connect,
    ...runtime
  }: ApiRuntime & {
    log?: EdgeLog;
    terminal?: boolean;
    logFields?: Record<string, unknown>;
    /** The runtime's TCP connect, for POSTs to the sidecar (see PublishConnections). */
    connect?: TcpConnect;
  } = {},
): Edge {
  const { options } = resolveEdgeOptions(env, argv);
  // `terminal`: whether the runtime's stdout is a terminal (auto log format); fetch runtimes
  // have no portable way to ask.
  const log =
    runtime.log ?? edgeLog(options.logLevel, options.logFormat, terminal, runtime.logFields);
  const hub = new RemoteHub({
    url: options.sidecarUrl,
    token: options.sidecarToken,
    timeoutMs: options.upstreamTimeoutMs,
    idleMs: options.upstreamIdleMs,
    retryMinMs: options.upstreamRetryMinMs,
    retryMaxMs: options.upstreamRetryMaxMs,
    maxConnections: options.maxConnections,
    sseQueueBytes: options.sseQueueBytes,
    maxMessageBytes: options.maxMessageBytes,
    maxBodyBytes: options.maxBodyBytes,
    connect,
    log,
  });
  const onRejected = (code: ErrorCode) => hub.stats.count(hub.stats.rejected, code);
  const logError = (err: unknown, path: string) =>
    log('error', 'http handler error', {
      path,
      err: err instanceof Error ? err.stack : String(err),
    });
  const parts = createApiParts(hub, options, {
    onRejected,
    logError: (err: unknown, c: Context) => logError(err, c.req.path),
    ...runtime,
  });
  const publishPath = webPublishPath(parts, options, {
    onRejected: runtime.onRejected ?? onRejected,
    logError,
  });
  return { app: parts.app, publishPath, hub, options, log };
}
