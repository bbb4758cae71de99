import type { Context, Hono } from 'hono';
import type { TcpConnect } from '../../shared/client/tcp-transport.ts';
import { type EdgeOptions, resolveEdgeOptions } from '../../shared/options/edge.ts';
import { type ApiRuntime, createApi } from '../app.ts';
import { edgeLog } from './edge-log.ts';
import { type EdgeLog, RemoteHub } from './remote-hub.ts';

export interface Edge {
  app: Hono;
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
  const app = createApi(hub, options, {
    onRejected: (code) => hub.stats.count(hub.stats.rejected, code),
    logError: (err: unknown, c: Context) =>
      log('error', 'http handler error', {
        path: c.req.path,
        err: err instanceof Error ? err.stack : String(err),
      }),
    ...runtime,
  });
  return { app, hub, options, log };
}
