// Helpers for the edge's Deno tests: a real sidecar process (sidecar-process.ts), an in-process
// edge app on Deno.serve, a TCP proxy that can cut the edge off its sidecar, and an SSE client.
// Everything a test starts, it stops: processes, servers, sockets and their read loops.
import { createParser } from 'eventsource-parser';
import { type ApiOptions, createApi } from '../../api/app.ts';
import { RemoteHub, type RemoteHubOptions } from '../../api/edge/remote-hub.ts';
import { resolveEdgeOptions } from '../../shared/options/edge.ts';
import { waitFor } from '../helpers/common.ts';

export { sleep, waitFor } from '../helpers/common.ts';
export { startSidecar } from './sidecar-process.ts';

/**
 * A TCP proxy in front of the sidecar: `cut()` drops every connection, `refuse` turns new ones
 * away, as a network failure between an edge worker and its sidecar would. It also records what
 * clients sent, to see the requests the edge makes.
 */
export class CutProxy {
  readonly #listener: Deno.Listener<Deno.TcpConn>;
  readonly #target: { hostname: string; port: number };
  readonly #conns = new Set<Deno.Conn>();
  readonly #pipes = new Set<Promise<unknown>>();
  readonly #accepting: Promise<void>;
  refuse = false;
  /** Bytes clients sent, as text. */
  sent = '';

  constructor(target: string) {
    const at = target.lastIndexOf(':');
    this.#target = { hostname: target.slice(0, at), port: Number(target.slice(at + 1)) };
    this.#listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    this.#accepting = this.#accept();
  }

  get address(): string {
    return `127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.refuse) {
          conn.close();
          continue;
        }
        let up: Deno.TcpConn;
        try {
          up = await Deno.connect(this.#target);
        } catch {
          conn.close();
          continue;
        }
        this.#conns.add(conn);
        this.#conns.add(up);
        const record = new TransformStream<Uint8Array, Uint8Array>({
          transform: (chunk, ctl) => {
            this.sent += new TextDecoder().decode(chunk);
            ctl.enqueue(chunk);
          },
        });
        const a = conn.readable
          .pipeThrough(record)
          .pipeTo(up.writable)
          .catch(() => {});
        const b = up.readable.pipeTo(conn.writable).catch(() => {});
        const both = Promise.all([a, b]).finally(() => {
          this.#close(conn);
          this.#close(up);
        });
        this.#pipes.add(both);
        both.finally(() => this.#pipes.delete(both));
      }
    } catch {
      // The listener was closed.
    }
  }

  #close(conn: Deno.Conn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch {}
  }

  /** Drops every open connection. */
  async cut(): Promise<void> {
    for (const c of [...this.#conns]) this.#close(c);
    await Promise.all([...this.#pipes]);
  }

  async close(): Promise<void> {
    this.refuse = true;
    this.#listener.close();
    await this.#accepting;
    await this.cut();
  }
}

export interface Edge {
  hub: RemoteHub;
  base: string;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  close(): Promise<void>;
}

/** The edge app on Deno.serve, in this process, over a RemoteHub to `sidecarHttp`. */
export function startEdge(
  sidecarHttp: string,
  hubOptions: Partial<RemoteHubOptions> = {},
  apiOptions: Partial<ApiOptions> = {},
): Edge {
  const logs: Edge['logs'] = [];
  const hub = new RemoteHub({
    url: `http://${sidecarHttp}`,
    retryMinMs: 20,
    retryMaxMs: 200,
    timeoutMs: 2000,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    ...hubOptions,
  });
  const options = { ...resolveEdgeOptions({}, []).options, ...apiOptions };
  const app = createApi(hub, options);
  const server = Deno.serve(
    {
      hostname: '127.0.0.1',
      port: 0,
      onListen: () => {},
      // As api/edge/deno.ts: a stream cut as a slow consumer is expected; anything else is logged.
      onError: (err) => {
        if ((err as { code?: string }).code !== 'SLOW_CONSUMER')
          logs.push({ level: 'error', msg: String(err) });
        return new Response(null, { status: 500 });
      },
    },
    app.fetch,
  );
  return {
    hub,
    base: `127.0.0.1:${server.addr.port}`,
    logs,
    close: async () => {
      hub.close();
      await server.shutdown();
    },
  };
}

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** An SSE client over fetch and eventsource-parser that records every event. */
export class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  ended = false;
  readonly #abort = new AbortController();
  #pump: Promise<void> = Promise.resolve();
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    const res = await fetch(url, { headers, signal: c.#abort.signal });
    c.status = res.status;
    const body = res.body;
    if (!res.ok || !body) {
      await res.body?.cancel();
      c.ended = true;
      return c;
    }
    const parser = createParser({
      onEvent: (e) => c.events.push({ id: e.id, event: e.event ?? 'message', data: e.data }),
    });
    const reader = body.getReader();
    c.#reader = reader;
    const decoder = new TextDecoder();
    c.#pump = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {}
      c.ended = true;
    })();
    return c;
  }

  messages(): SseEvent[] {
    return this.events.filter((e) => e.event === 'message' || e.event === 'binary');
  }

  async waitForMessages(n: number, ms = 5000): Promise<SseEvent[]> {
    await waitFor(
      () => this.messages().length >= n,
      ms,
      `${n} messages (have ${this.messages().length})`,
    );
    return this.messages();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    // An abort alone does not always end a pending read of the body (seen on Deno 2.9).
    await this.#reader?.cancel().catch(() => {});
    await this.#pump;
  }
}

export async function post(base: string, group: string, body: string): Promise<Response> {
  return await fetch(`http://${base}/groups/${group}/messages`, { method: 'POST', body });
}

/** Publishes each text and returns the ids. */
export async function publish(base: string, group: string, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const t of texts) {
    const res = await post(base, group, t);
    const json = await res.json();
    if (res.status !== 202)
      throw new Error(`publish answered ${res.status} ${JSON.stringify(json)}`);
    ids.push(...json.ids);
  }
  return ids;
}

/** The sidecar's count of SSE members of a group (the edge's upstream is one). */
export async function sidecarSse(sidecarHttp: string, group: string): Promise<number> {
  const res = await fetch(`http://${sidecarHttp}/groups/${group}`);
  const json = await res.json();
  return res.status === 200 ? json.counts.sse : 0;
}
