import { fromBase64, textEncoder } from '../../shared/bytes.ts';
import { ERROR_CODES, type ErrorCode, GroupcastError, UpstreamError } from '../../shared/errors.ts';
import type { GapInfo } from '../../shared/sse.ts';

export interface SidecarClientOptions {
  /** Base URL of the sidecar's HTTP API, e.g. `http://127.0.0.1:7480`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token?: string | null;
  /** Time limit for a request: until the whole answer for JSON calls, until headers for streams. */
  timeoutMs: number;
  /** The fetch to use (tests and runtimes with a custom one); the global fetch by default. */
  fetch?: typeof fetch;
}

export interface SidecarRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  /** Aborts the request, including a stream already being read. */
  signal?: AbortSignal;
  /** JSON calls: return an error status's body instead of throwing (health answers 503 with JSON). */
  anyStatus?: boolean;
}

/** A page of `GET /groups/:group/messages` as it travels. */
export interface WirePage {
  group: string;
  /** `time`: when the sidecar received it (ms since the epoch); absent from older sidecars. */
  messages: { id: string; time?: number; encoding: 'utf8' | 'base64'; data: string }[];
  gap: GapInfo | null;
  lastId: string | null;
  more: boolean;
}

/**
 * HTTP to one sidecar: its address, credentials and time limits, and the one place where a
 * sidecar's answer becomes a GroupcastError. A sidecar's own error code (bad input, a limit) is
 * passed on unchanged, so the edge answers exactly as the sidecar would; anything that means the
 * sidecar cannot be used (unreachable, timed out, refused the edge's token, not a groupcast
 * answer) is UPSTREAM_UNAVAILABLE.
 */
export class SidecarClient {
  readonly url: string;
  readonly #token: string | null;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  /**
   * The sidecar's last refusal of the edge's credentials (401/403), until a request it answers
   * without one: health reports it, since the sidecar's own health endpoint needs no token.
   */
  refused: string | null = null;

  constructor(options: SidecarClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token ?? null;
    this.#timeoutMs = options.timeoutMs;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  href(path: string): string {
    return `${this.url}${path}`;
  }

  /**
   * Sends a request and resolves once the answer's headers are in. The time limit covers only
   * that far: a stream's body is read by the caller, under its own idle limit.
   */
  async open(path: string, req: SidecarRequest = {}): Promise<Response> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.#timeoutMs);
    try {
      return await this.#send(path, req, ctl);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A JSON request, all of it within the time limit: the parsed answer, or the sidecar's error. */
  async json<T>(path: string, req: SidecarRequest = {}): Promise<{ status: number; body: T }> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.#timeoutMs);
    try {
      const res = await this.#send(path, req, ctl);
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        throw this.#failure(ctl, req, err);
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new UpstreamError(`sidecar answered ${res.status} with no JSON`);
      }
      this.#note(res, body);
      if (!res.ok && !req.anyStatus) throw errorFromAnswer(res.status, body);
      return { status: res.status, body: body as T };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A page of a group's held messages after `after` (from the earliest with null); null for an unknown group. */
  async historyPage(group: string, after: string | null, limit: number): Promise<WirePage | null> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after !== null) q.set('after', after);
    try {
      return (await this.json<WirePage>(`${groupPath(group)}/messages?${q}`)).body;
    } catch (err) {
      if (err instanceof GroupcastError && err.code === 'GROUP_NOT_FOUND') return null;
      throw err;
    }
  }

  #note(res: Response, body: unknown): void {
    if (res.status === 401 || res.status === 403) {
      this.refused = errorFromAnswer(res.status, body).message;
    } else if (res.status < 500 && !res.url.endsWith('/healthz')) this.refused = null;
  }

  async #send(path: string, req: SidecarRequest, ctl: AbortController): Promise<Response> {
    const outer = req.signal;
    if (outer) {
      if (outer.aborted) ctl.abort();
      else outer.addEventListener('abort', () => ctl.abort(), { once: true });
    }
    const headers: Record<string, string> = { ...req.headers };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    try {
      return await this.#fetch(this.href(path), {
        method: req.method ?? 'GET',
        headers,
        body: req.body,
        signal: ctl.signal,
      });
    } catch (err) {
      throw this.#failure(ctl, req, err);
    }
  }

  #failure(ctl: AbortController, req: SidecarRequest, err: unknown): UpstreamError {
    if (ctl.signal.aborted && !req.signal?.aborted) {
      return new UpstreamError(`sidecar did not answer within ${this.#timeoutMs} ms`);
    }
    return new UpstreamError(`sidecar unreachable: ${(err as Error).message}`);
  }

  /** The error a failed answer (of a stream request) stands for; reads its body. */
  async errorOf(res: Response): Promise<GroupcastError> {
    let body: unknown = null;
    try {
      body = JSON.parse(await res.text());
    } catch {}
    this.#note(res, body);
    return errorFromAnswer(res.status, body);
  }
}

/** Maps a sidecar's error answer to the error the edge reports. */
export function errorFromAnswer(status: number, body: unknown): GroupcastError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code =
    typeof err?.code === 'string' && err.code in ERROR_CODES ? (err.code as ErrorCode) : null;
  const message = typeof err?.message === 'string' ? err.message : '';
  // 401/403 refuse the edge worker's own token, and INTERNAL is the sidecar's own failure: the
  // client did nothing wrong, so neither is passed on as if it were the client's error.
  if (code && code !== 'INTERNAL' && status !== 401 && status !== 403) {
    return new GroupcastError(code, message || undefined);
  }
  return new UpstreamError(
    `sidecar answered ${status}${err?.code ? ` ${String(err.code)}` : ''}${message ? `: ${message}` : ''}`,
  );
}

export function groupPath(group: string): string {
  return `/groups/${encodeURIComponent(group)}`;
}

/** The payload bytes of a message of a history page. */
export function wirePayload(m: WirePage['messages'][number]): Uint8Array {
  return m.encoding === 'base64' ? fromBase64(m.data) : textEncoder.encode(m.data);
}
