import { fromBase64, textEncoder } from '../bytes.ts';
import { validateGroupId } from '../group-id.ts';
import type {
  GroupDetail,
  GroupSummary,
  HealthReport,
  HistoryPage,
  PublishResult,
} from '../hub.ts';
import type { GapInfo } from '../sse.ts';
import { type ClientContext, jsonOf, request } from './request.ts';
import { type SubscribeOptions, Subscription } from './subscription.ts';

/** Where a sidecar's (or edge worker's) API answers when nothing else is said. */
export const DEFAULT_URL = 'http://127.0.0.1:7480';
/**
 * A request that takes longer fails with UNREACHABLE. Generous: a publish may wait for slow
 * readers on the server (GROUPCAST_PUBLISH_WAIT, 10 s by default) before it is answered.
 */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

/** A bearer token, or a function asked before every request (so an expiring token can be renewed). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface HttpClientOptions {
  /** Base URL of the API; a path is kept (`https://host/hub/` serves `/hub/groups`). @default 'http://127.0.0.1:7480' */
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: TokenSource;
  /** The fetch to use (a runtime's own by default). */
  fetch?: typeof fetch;
  /**
   * Time limit of a request: until the whole answer, or until the headers of a stream opened
   * with `events`; 0 = none. Subscriptions have their own limits. @default 30000
   */
  timeoutMs?: number;
}

/** A page of held messages as `GET /groups/:group/messages` sends it. */
interface WirePage {
  group: string;
  /** `time`: when the server received it (ms since the epoch); absent from older servers. */
  messages: { id: string; time?: number; encoding: 'utf8' | 'base64'; data: string }[];
  gap: GapInfo | null;
  lastId: string | null;
  more: boolean;
}

export interface MessagesOptions {
  /** Messages after this id; from the earliest held without it. */
  after?: string | null;
  /** At most this many (the server allows up to 1000). */
  limit?: number;
}

export interface EventsOptions {
  /** Resume after this message id (sent as `Last-Event-ID`). */
  lastEventId?: string | null;
  /** Aborts the request, and the stream once it is being read. */
  signal?: AbortSignal;
}

/**
 * The HTTP/SSE API as a library: runtime-neutral (fetch, streams, TextDecoder), so the same
 * code runs on Node, Deno and in browsers.
 */
export class HttpClient {
  readonly #ctx: ClientContext;

  constructor(options: HttpClientOptions = {}) {
    const url = options.url ?? DEFAULT_URL;
    let base: URL;
    try {
      base = new URL(url.endsWith('/') ? url : `${url}/`);
    } catch {
      throw new TypeError(`not a URL: ${JSON.stringify(url)}`);
    }
    const token = options.token;
    const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#ctx = {
      base,
      fetch: doFetch,
      timeoutMs: options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
      async headers(extra = {}) {
        const h = new Headers(extra);
        const t = typeof token === 'function' ? await token() : token;
        if (t) h.set('Authorization', `Bearer ${t}`);
        return h;
      },
    };
  }

  get url(): string {
    return this.#ctx.base.href;
  }

  /** Publishes one message (bytes, or text sent as UTF-8). Not retried: a retry could publish twice. */
  async publish(group: string, data: string | Uint8Array): Promise<PublishResult> {
    const body = typeof data === 'string' ? textEncoder.encode(data) : data;
    return this.publishBody(group, body, 'application/octet-stream');
  }

  /**
   * Publishes a request body as the API takes it: `application/octet-stream` is one message,
   * `application/x-ndjson` one message a line. Not retried.
   */
  async publishBody(group: string, body: Uint8Array, contentType: string): Promise<PublishResult> {
    return request(
      this.#ctx,
      `${groupPath(group)}/messages`,
      {
        method: 'POST',
        headers: await this.#ctx.headers({ 'Content-Type': contentType }),
        body: body as Uint8Array<ArrayBuffer>,
      },
      jsonOf<PublishResult>,
    );
  }

  /** Every group with its member counts. */
  async groups(): Promise<GroupSummary[]> {
    const body = await request(
      this.#ctx,
      'groups',
      { headers: await this.#ctx.headers() },
      jsonOf<{ groups: GroupSummary[] }>,
    );
    return body.groups;
  }

  /** One group's members, history window and counters; RemoteError GROUP_NOT_FOUND if absent. */
  async group(name: string): Promise<GroupDetail> {
    return request(
      this.#ctx,
      groupPath(name),
      { headers: await this.#ctx.headers() },
      jsonOf<GroupDetail>,
    );
  }

  /**
   * A page of the messages a group holds, oldest first, with a gap when `after` is no longer
   * held; RemoteError GROUP_NOT_FOUND for a group the server does not know. `origin` is empty:
   * the API does not send it.
   */
  async messages(group: string, options: MessagesOptions = {}): Promise<HistoryPage> {
    const q = new URLSearchParams();
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.after != null) q.set('after', options.after);
    const page = await request(
      this.#ctx,
      `${groupPath(group)}/messages${q.size > 0 ? `?${q}` : ''}`,
      { headers: await this.#ctx.headers() },
      jsonOf<WirePage>,
    );
    return {
      group: page.group,
      messages: page.messages.map((m) => ({
        group: page.group,
        id: m.id,
        data: m.encoding === 'base64' ? fromBase64(m.data) : textEncoder.encode(m.data),
        origin: '',
        time: m.time,
      })),
      gap: page.gap,
      lastId: page.lastId,
      more: page.more,
    };
  }

  /** The server's health report, also when it says it is down (it answers 503 then). */
  async health(): Promise<HealthReport> {
    return request(
      this.#ctx,
      'healthz',
      { headers: await this.#ctx.headers() },
      jsonOf<HealthReport>,
      [503],
    );
  }

  /**
   * Opens a group's event stream and resolves with the answer once its headers are in (status
   * 200, with a body): the SSE bytes as the server sends them, for a caller that reads them
   * itself (the edge worker passes them on). Nothing reconnects it; `subscribe` is the iterator
   * that does. Keep the Response referenced while reading its body: on Deno, aborting the
   * request of a Response already collected leaves its connection open.
   */
  async events(group: string, options: EventsOptions = {}): Promise<Response> {
    const extra: Record<string, string> = { Accept: 'text/event-stream' };
    if (options.lastEventId) extra['Last-Event-ID'] = options.lastEventId;
    return request(
      this.#ctx,
      `${groupPath(group)}/events`,
      { headers: await this.#ctx.headers(extra), signal: options.signal },
      async (res) => {
        if (!res.body) throw new TypeError('the event stream has no body');
        return res;
      },
    );
  }

  /**
   * Subscribes to a group's messages as an async iterator. It reconnects by itself (bounded
   * exponential backoff) and resumes after the last message it yielded, so nothing inside the
   * server's history window is lost; what was lost arrives as a `gap` value.
   */
  subscribe(group: string, options: SubscribeOptions = {}): Subscription {
    return new Subscription(this.#ctx, validateGroupId(group), options);
  }
}

/** A group's path under the API's base, the id checked first. */
function groupPath(group: string): string {
  return `groups/${encodeURIComponent(validateGroupId(group))}`;
}
