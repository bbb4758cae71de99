import {
  createServer,
  type IncomingMessage,
  maxHeaderSize,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorCode } from '../shared/errors.ts';
import { formatHostPort } from '../shared/host-port.ts';
import type { Hub } from '../shared/hub.ts';
import { type ApiOptions, type ApiParts, createApiParts } from './app.ts';
import { pathOf } from './dot-segments.ts';
import { sseHeadParts, subscribeTaker } from './front-sse-stream.ts';
import type { AppListener } from './node-adapter.ts';
import { HttpFront } from './node-http-front.ts';
import { nodePublishPath, publishTaker } from './node-publish.ts';
import { NodeSseStream } from './node-sse-stream.ts';

export interface ApiServer {
  readonly address: string;
  /**
   * Stops accepting; streams the hub has ended (SSE `event: close`) get up to `graceMs` to reach
   * their clients, then every connection still open is closed.
   */
  close(graceMs?: number): Promise<void>;
}

/** The client's `ip:port` (an IPv4 client of a dual-stack listener without its `::ffff:`). */
function remoteOf(incoming: IncomingMessage): string {
  const ip = (incoming.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  return formatHostPort(ip, incoming.socket.remotePort ?? 0);
}

/** How often connections that finished their last response are closed during a shutdown. */
const IDLE_SWEEP_MS = 25;

/** Serves the API on Node with @hono/node-server (the sidecar's HTTP listener). */
export interface NodeApiHooks {
  logError: (err: unknown) => void;
  onRejected: (code: ErrorCode) => void;
}

export interface ListenAt {
  host: string;
  port: number;
  /** Accept queue asked of the kernel (capped by the OS). */
  backlog: number;
  /** Serve the hot route from the raw socket (node-http-front.ts); off: node:http for all. */
  front?: boolean;
  /** node:http's headersTimeout, kept by the front too (default: node:http's own). */
  headTimeoutMs?: number;
}

/** What the front needs to serve SSE GETs, or null when the app must answer them (CORS). */
function frontSubscribe(parts: ApiParts) {
  const take = subscribeTaker(parts);
  return take ? { take, head: sseHeadParts(parts.sseHeaders) } : null;
}

/** node:http checks its connections' timeouts this often at most (its own default is 30 s). */
const MAX_TIMEOUT_CHECK_MS = 30_000;

export async function listenApi(
  hub: Hub,
  options: ApiOptions,
  { host, port, backlog, front = true, headTimeoutMs }: ListenAt,
  hooks: NodeApiHooks,
): Promise<ApiServer> {
  const parts = createApiParts(hub, options, {
    remoteAddress: (c) => remoteOf((c.env as { incoming: IncomingMessage }).incoming),
    logError: hooks.logError,
    onRejected: hooks.onRejected,
    sseHeaders: { 'Transfer-Encoding': 'chunked' },
    dropConnection: (c) => (c.env as { outgoing: ServerResponse }).outgoing.destroy(),
    openSse: (c, remote, limitBytes) =>
      new NodeSseStream(remote, limitBytes, (c.env as { outgoing: ServerResponse }).outgoing),
    rawPath: (c) => pathOf((c.env as { incoming: IncomingMessage }).incoming.url ?? '/'),
  });
  const { app } = parts;
  const fast = nodePublishPath(parts, options, {
    remote: remoteOf,
    logError: hooks.logError,
    onRejected: hooks.onRejected,
  });
  // The app's adapter (and with it Node's fetch classes) loads on the first request it answers.
  let toApp: AppListener | undefined;
  let loading: Promise<AppListener> | undefined;
  const appRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (toApp) {
      toApp(req, res);
      return;
    }
    loading ??= import('./node-adapter.ts').then((m) => {
      toApp = m.appListener(app.fetch, host);
      return toApp;
    });
    loading.then(
      (listener) => listener(req, res),
      (err: unknown) => {
        hooks.logError(err);
        res.destroy();
      },
    );
  };
  const timed: ServerOptions =
    headTimeoutMs === undefined
      ? {}
      : {
          headersTimeout: headTimeoutMs,
          // Else a short head timeout would only be seen every 30 s.
          connectionsCheckingInterval: Math.min(
            MAX_TIMEOUT_CHECK_MS,
            Math.max(10, Math.floor(headTimeoutMs / 4)),
          ),
        };
  // POSTs the fast path takes never reach the adapter.
  const server = createServer(
    timed,
    fast
      ? (req, res) => {
          if (!fast(req, res)) appRequest(req, res);
        }
      : appRequest,
  );
  const take = front ? publishTaker(parts, options, hooks) : null;
  const raw = take
    ? new HttpFront(
        server,
        take,
        frontSubscribe(parts),
        (server as { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize,
        hooks.logError,
      )
    : null;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const address = formatHostPort(a.address, a.port);
  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs = 0) {
      closing ??= new Promise<void>((resolve) => {
        const s = server as {
          closeAllConnections?: () => void;
          closeIdleConnections?: () => void;
        };
        // Ended streams finish their chunked bodies and go idle; a stream nobody reads never
        // does, so what is still open after the grace is closed.
        const idle = () => {
          s.closeIdleConnections?.();
          raw?.closeIdle();
        };
        const sweep = setInterval(idle, IDLE_SWEEP_MS);
        const hard = setTimeout(() => {
          s.closeAllConnections?.();
          raw?.closeAll();
        }, graceMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(hard);
          raw?.stop();
          resolve();
        });
        idle();
      });
      return closing;
    },
  };
}
