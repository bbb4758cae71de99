import { type ErrorCode, GroupcastError } from '../shared/errors.ts';
import type { ApiOptions } from '../shared/options/api.ts';
import type { ApiParts } from './app.ts';
import { bearerToken } from './auth.ts';
import { FRAMES_TYPE, readBody } from './body.ts';
import { plainGroup } from './dot-segments.ts';
import { errorReply } from './errors.ts';

const PREFIX = '/groups/';
const SUFFIX = '/messages';
const NO_GRANTS = () => undefined;
/** Hono's `c.json()` header: the fast path answers with the same. */
const JSON_HEADERS = { 'Content-Type': 'application/json' } as const;

export interface WebPublishHooks {
  /** Told about an unexpected error (answered as 500 INTERNAL), with the request's path. */
  logError: (err: unknown, path: string) => void;
  onRejected: (code: ErrorCode) => void;
}

/** Answers a request (a Response promise), or leaves it to the app (null). */
export type WebFastPath = (req: Request, remote: () => string) => Promise<Response> | null;

/**
 * `POST /groups/:group/messages` on a Web-standard server (the Deno edge) without Hono's router,
 * Context and middleware chain per POST. It calls the app's own handler (same limits, rate
 * buckets, auth and errors) and answers as the app does on that runtime. As the Node fast path
 * (node-publish.ts), it takes only requests whose answer cannot depend on what it skips: a plain
 * path with no query, a Content-Length within the limit, no CORS configured, an address the
 * allowlist admits and, with auth on, a Bearer header; everything else goes to the app.
 */
export function webPublishPath(
  parts: ApiParts,
  options: ApiOptions,
  hooks: WebPublishHooks,
): WebFastPath | null {
  if (parts.cors) return null;
  const { publish, admits, auth } = parts;
  const fail = (err: unknown, path: string): Response => {
    if (err instanceof GroupcastError) hooks.onRejected(err.code);
    else hooks.logError(err, path);
    const { status, body, retryAfter } = errorReply(err);
    return new Response(JSON.stringify(body), {
      status,
      headers: retryAfter ? { ...JSON_HEADERS, 'Retry-After': retryAfter } : JSON_HEADERS,
    });
  };
  const accepted = (reply: unknown): Response =>
    new Response(JSON.stringify(reply), { status: 202, headers: JSON_HEADERS });
  return (req, remoteOf) => {
    if (req.method !== 'POST') return null;
    const url = req.url;
    // The path starts at the first '/' after the scheme's '//'.
    const at = url.indexOf('/', url.indexOf('//') + 2);
    if (at < 0 || !url.startsWith(PREFIX, at) || !url.endsWith(SUFFIX)) return null;
    const group = url.slice(at + PREFIX.length, url.length - SUFFIX.length);
    if (!plainGroup(group)) return null;
    const h = req.headers;
    const length = h.get('content-length');
    if (length === null || h.get('transfer-encoding') !== null) return null;
    const type = h.get('content-type') ?? undefined;
    const lower = type === undefined ? '' : type.toLowerCase();
    const batch = lower.startsWith('application/x-ndjson') || lower.startsWith(FRAMES_TYPE);
    if (Number(length) > (batch ? options.maxBodyBytes : options.maxMessageBytes)) return null;
    let token: string | undefined;
    if (auth) {
      token = bearerToken(h.get('authorization') ?? undefined);
      if (token === undefined) return null;
    }
    const remote = remoteOf();
    if (!admits(remote)) return null;
    return publish({
      group,
      contentType: type,
      contentLength: length,
      remote,
      grants: auth ? () => auth.verify(token) : NO_GRANTS,
      body: (limit, what) => readBody(req, limit, what),
    }).then(accepted, (err) => fail(err, url.slice(at)));
  };
}
