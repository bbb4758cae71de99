import { RemoteError, UnreachableError } from '../errors.ts';

/** Request context shared by the client and its subscriptions. */
export interface ClientContext {
  readonly base: URL;
  readonly fetch: typeof fetch;
  /** Time limit of one request (see `request`); 0 means none. */
  readonly timeoutMs: number;
  headers(extra?: Record<string, string>): Promise<Headers>;
}

/**
 * A fetch that turns network failures and the time limit into UnreachableError and error
 * answers into RemoteError, the one place an API answer becomes an error. The time limit covers
 * the request and `read`, which takes what it needs of the answer: all of a JSON body, or only
 * the headers of a stream (whose body the caller then reads, under its own idle limit).
 * `init.signal` aborts the request and a stream being read; an abort is rethrown as it came.
 * `accept`: error statuses whose answer `read` takes as any other (health answers 503 with its
 * report).
 */
export async function request<T>(
  ctx: ClientContext,
  path: string,
  init: RequestInit,
  read: (res: Response) => Promise<T>,
  accept: readonly number[] = [],
): Promise<T> {
  const url = new URL(path, ctx.base);
  const ctl = new AbortController();
  const outer = init.signal;
  const abort = () => ctl.abort();
  if (outer?.aborted) abort();
  else outer?.addEventListener('abort', abort, { once: true });
  let timedOut = false;
  const timer =
    ctx.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          ctl.abort();
        }, ctx.timeoutMs)
      : undefined;
  const failure = (err: unknown): unknown => {
    if (timedOut) {
      return new UnreachableError(`${url.origin} did not answer within ${ctx.timeoutMs} ms`);
    }
    if (outer?.aborted || err instanceof RemoteError) return err;
    return new UnreachableError(`cannot reach ${url.origin}: ${describe(err)}`);
  };
  try {
    let res: Response;
    try {
      res = await ctx.fetch(url, { ...init, signal: ctl.signal });
    } catch (err) {
      throw failure(err);
    }
    try {
      if (!res.ok && !accept.includes(res.status)) throw await remoteError(res);
      return await read(res);
    } catch (err) {
      throw failure(err);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a JSON answer; one that is not JSON (a proxy's page, a wrong URL) is a RemoteError. */
export async function jsonOf<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RemoteError(res.status, 'REMOTE_ERROR', `HTTP ${res.status}: the answer is not JSON`);
  }
}

/** Reads an API error answer (`{ error: { code, message } }`), or describes a foreign one. */
export async function remoteError(res: Response): Promise<RemoteError> {
  let text = '';
  try {
    text = await res.text();
  } catch {}
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = body.error ?? {};
    if (typeof code === 'string') {
      return new RemoteError(res.status, code, typeof message === 'string' ? message : code);
    }
  } catch {}
  const detail = text.trim().slice(0, 200);
  return new RemoteError(
    res.status,
    'REMOTE_ERROR',
    `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail ? `: ${detail}` : ''}`,
  );
}

/** The most useful line from a fetch failure (undici hides the reason in `cause`). */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (cause.message) return cause.message;
    if (typeof code === 'string') return code;
  }
  return err.message;
}
