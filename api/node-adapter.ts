/**
 * @hono/node-server's request listener, loaded on the first request the app answers (see
 * `listenApi` in node.ts). Importing it reads the global `Request` and `Response`, which makes
 * Node load its fetch implementation (undici, ~12 MB of RSS) and node:http2: an idle sidecar, and
 * one whose only HTTP traffic is the fast POST path, never pays for either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
// Made when this module loads, before appListener's getRequestListener swaps in the adapter's
// own Response class, whose fast path would ignore the header.
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { openNodeSse } from './node-sse-stream.ts';
import { closeIfRefusedBody } from './refused-body.ts';

export type AppListener = (incoming: IncomingMessage, outgoing: ServerResponse) => unknown;

/** Serves `fetch` (the Hono app's) on Node requests; SSE responses take over their socket. */
export function appListener(
  fetch: (req: Request, env: unknown) => Response | Promise<Response>,
  hostname: string,
): AppListener {
  return getRequestListener(
    async (req: Request, env: unknown) => {
      const res = await fetch(req, env);
      if (openNodeSse((env as { outgoing: ServerResponse }).outgoing, res)) {
        return RESPONSE_ALREADY_SENT;
      }
      if (res.status === 413) lingerAfterAnswer((env as { outgoing: ServerResponse }).outgoing);
      return closeIfRefusedBody(res);
    },
    { hostname },
  );
}

/** After a refused body, how long the connection is read on (and what comes thrown away). */
export const LINGER_MS = 2000;

/**
 * Closes a connection refused for its body gently. node:http ends such a connection as soon as
 * the answer is out and closes the socket with the client's bytes still unread, which makes the
 * kernel send a reset: a client still sending its body (it has not read the answer yet) could
 * lose the 413 (seen when the answer came late, while the adapter loaded on a first request).
 * Instead, the answer goes out with the end of our side, and what the client still sends is read
 * and dropped (node:http dumps the refused body) until it closes, for at most LINGER_MS.
 */
function lingerAfterAnswer(res: ServerResponse): void {
  const socket = res.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket) return;
  socket.destroySoon = function (this: Socket): void {
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref?.();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
    this.end();
  };
}
