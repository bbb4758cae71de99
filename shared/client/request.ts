import { RemoteError, UnreachableError } from '../errors.ts';

/** Request context shared by the client and its subscriptions. */
export interface ClientContext {
  readonly base: URL;
  readonly fetch: typeof fetch;
  headers(extra?: Record<string, string>): Promise<Headers>;
}

/** A fetch that turns network failures into UnreachableError and error answers into RemoteError. */
export async function request(
  ctx: ClientContext,
  path: string,
  init: RequestInit,
): Promise<Response> {
  const url = new URL(path, ctx.base);
  let res: Response;
  try {
    res = await ctx.fetch(url, init);
  } catch (err) {
    if (init.signal?.aborted) throw err;
    throw new UnreachableError(`cannot reach ${url.origin}: ${describe(err)}`);
  }
  if (!res.ok) throw await remoteError(res);
  return res;
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
