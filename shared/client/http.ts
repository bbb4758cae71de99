import { textEncoder } from '../bytes.ts';
import { validateGroupId } from '../group-id.ts';
import type { GroupDetail, GroupSummary, PublishResult } from '../hub.ts';
import { type ClientContext, request } from './request.ts';
import { type SubscribeOptions, Subscription } from './subscription.ts';

/** Where a sidecar's (or edge worker's) API answers when nothing else is said. */
export const DEFAULT_URL = 'http://127.0.0.1:7480';

/** A bearer token, or a function asked before every request (so an expiring token can be renewed). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface HttpClientOptions {
  /** Base URL of the API; a path is kept (`https://host/hub/` serves `/hub/groups`). @default 'http://127.0.0.1:7480' */
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: TokenSource;
  /** The fetch to use (a runtime's own by default). */
  fetch?: typeof fetch;
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
    const res = await request(
      this.#ctx,
      `groups/${encodeURIComponent(validateGroupId(group))}/messages`,
      {
        method: 'POST',
        headers: await this.#ctx.headers({ 'Content-Type': 'application/octet-stream' }),
        body: body as Uint8Array<ArrayBuffer>,
      },
    );
    return (await res.json()) as PublishResult;
  }

  /** Every group with its member counts. */
  async groups(): Promise<GroupSummary[]> {
    const res = await request(this.#ctx, 'groups', { headers: await this.#ctx.headers() });
    return ((await res.json()) as { groups: GroupSummary[] }).groups;
  }

  /** One group's members, history window and counters; RemoteError GROUP_NOT_FOUND if absent. */
  async group(name: string): Promise<GroupDetail> {
    const res = await request(this.#ctx, `groups/${encodeURIComponent(validateGroupId(name))}`, {
      headers: await this.#ctx.headers(),
    });
    return (await res.json()) as GroupDetail;
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
