import { HttpClient } from '../../shared/client/http.ts';
import {
  GroupcastError,
  RemoteError,
  toGroupcastError,
  UnreachableError,
  UpstreamError,
} from '../../shared/errors.ts';
import type { HistoryPage } from '../../shared/hub.ts';

export interface SidecarLinkOptions {
  /** Base URL of the sidecar's HTTP API, e.g. `http://127.0.0.1:7480`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token?: string | null;
  /** Time limit for a request: until the whole answer for JSON calls, until headers for streams. */
  timeoutMs: number;
  /** The fetch to use (tests and runtimes with a custom one); the global fetch by default. */
  fetch?: typeof fetch;
}

/**
 * The edge worker's way to its sidecar: the client library's HttpClient (which makes the
 * requests and reads every error answer), plus the two things only the edge needs. Which
 * failures it passes on: a sidecar's own refusal of the request (bad input, a limit) keeps its
 * code, so the edge answers exactly as the sidecar would; anything that means the sidecar cannot
 * be used (unreachable, timed out, refused the edge's token, failed itself, not a groupcast
 * answer) is UPSTREAM_UNAVAILABLE. And the sidecar's last refusal of the edge's credentials.
 */
export class SidecarLink {
  readonly url: string;
  readonly #client: HttpClient;
  readonly #origin: string;
  /**
   * The sidecar's last refusal of the edge's credentials (401/403), until a request it answers
   * without one: health reports it, since the sidecar's own health endpoint needs no token.
   */
  refused: string | null = null;

  constructor(options: SidecarLinkOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#origin = new URL(this.url).origin;
    this.#client = new HttpClient({
      url: this.url,
      token: options.token ?? undefined,
      timeoutMs: options.timeoutMs,
      fetch: options.fetch,
    });
  }

  /** Runs one request: its failure as the edge reports it, and the refusal noted for health. */
  async call<T>(run: (client: HttpClient) => Promise<T>, isHealth = false): Promise<T> {
    try {
      const result = await run(this.#client);
      if (!isHealth) this.refused = null;
      return result;
    } catch (err) {
      const e = upstreamError(err, this.#origin);
      if (err instanceof RemoteError) {
        if (err.status === 401 || err.status === 403) this.refused = e.message;
        else if (err.status < 500 && !isHealth) this.refused = null;
      }
      throw e;
    }
  }

  /** A page of a group's held messages after `after` (from the earliest with null); null for an unknown group. */
  async historyPage(
    group: string,
    after: string | null,
    limit: number,
  ): Promise<HistoryPage | null> {
    try {
      return await this.call((c) => c.messages(group, { after, limit }));
    } catch (err) {
      if (err instanceof GroupcastError && err.code === 'GROUP_NOT_FOUND') return null;
      throw err;
    }
  }

  /** Opens a group's event stream, resolved once its headers are in. */
  events(group: string, lastEventId: string | null, signal: AbortSignal): Promise<Response> {
    return this.call((c) => c.events(group, { lastEventId, signal }));
  }
}

/**
 * What the edge reports for a failed sidecar request (see SidecarLink). The sidecar's address
 * (`origin`) is not for the edge's clients: it reads as "sidecar" in what they are told.
 */
export function upstreamError(err: unknown, origin: string): GroupcastError {
  if (err instanceof RemoteError) {
    // 401/403 refuse the edge worker's own token, and INTERNAL is the sidecar's own failure: the
    // client did nothing wrong, so neither is passed on as if it were the client's error.
    const own = err.status === 401 || err.status === 403 || err.code === 'INTERNAL';
    if (err.code !== 'REMOTE_ERROR' && !own) return new GroupcastError(err.code, err.message);
    const foreign = err.remoteCode === 'REMOTE_ERROR';
    return new UpstreamError(
      `sidecar answered ${foreign ? err.message : `${err.status} ${err.remoteCode}: ${err.message}`}`,
    );
  }
  if (err instanceof UnreachableError) {
    return new UpstreamError(err.message.replaceAll(origin, 'sidecar'));
  }
  return toGroupcastError(err);
}
