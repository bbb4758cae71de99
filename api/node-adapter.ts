/**
 * @hono/node-server's request listener, loaded on the first request the app answers (see
 * `listenApi` in node.ts). Importing it reads the global `Request` and `Response`, which makes
 * Node load its fetch implementation (undici, ~12 MB of RSS) and node:http2: an idle sidecar, and
 * one whose only HTTP traffic is the fast POST path, never pays for either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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
      return closeIfRefusedBody(res);
    },
    { hostname },
  );
}
