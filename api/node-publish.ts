import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, GroupcastError } from '../shared/errors.ts';
import type { ApiOptions } from '../shared/options/api.ts';
import type { ApiParts } from './app.ts';
import { bearerToken } from './auth.ts';
import { FRAMES_TYPE } from './body.ts';
import { plainGroup } from './dot-segments.ts';
import { errorReply } from './errors.ts';

const PREFIX = '/groups/';
const SUFFIX = '/messages';
/**
 * A group segment taken as written: no escapes, no query, nothing a URL parser would rewrite.
 * Anything else (and `.`/`..`, refused by the app) goes through the app.
 */
const NO_GRANTS = () => undefined;

export interface NodePublishHooks {
  /** The client's `ip:port`, as the app sees it. */
  remote: (req: IncomingMessage) => string;
  logError: (err: unknown) => void;
  onRejected: (code: ErrorCode) => void;
}

/** Takes a request and answers it (true), or leaves it to the app (false). */
export type NodeFastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** An answer as the app gives one: a status, a JSON value, and header pairs beyond the usual. */
export interface JsonAnswer {
  status: number;
  body: unknown;
  /** `[name, value, ...]` after Content-Type and Content-Length. */
  extra: string[];
  /** The answer ends the connection (it carries `Connection: close`). */
  close: boolean;
}

/** What a POST's head says, as the fast paths have parsed it. */
export interface PublishHead {
  /** The raw `:group` segment. */
  group: string;
  contentType: string | undefined;
  /** Digits only. */
  contentLength: string;
  authorization: string | undefined;
}

/** Publishes the request, reading its body when asked; never rejects. */
export type PublishCall = (body: () => Promise<Uint8Array>) => Promise<JsonAnswer>;

/**
 * Decides whether the answer to `POST /groups/:group/messages` with this head cannot depend on
 * anything the fast paths skip (a PublishCall), or must come from the app (null). The group
 * segment must already be plain (`plainGroup`); `remote` is the client's `ip:port`.
 */
export type PublishTaker = (head: PublishHead, remote: string) => PublishCall | null;

/**
 * The rules both fast paths share (node:http's request listener below, and the raw HTTP front,
 * node-http-front.ts): they call the app's own handler (same limits, rate buckets, auth and
 * errors) and answer as the app would. Only requests whose answer cannot depend on what they
 * skip are taken: a Content-Length within the limit, no CORS configured, an address the
 * allowlist admits and, with auth on, a Bearer header. Everything else (and every refusal
 * decided before the body) goes to the app.
 */
export function publishTaker(
  parts: ApiParts,
  options: ApiOptions,
  hooks: Omit<NodePublishHooks, 'remote'>,
): PublishTaker | null {
  if (parts.cors) return null;
  const { publish, admits, auth } = parts;
  const fail = (err: unknown): JsonAnswer => {
    if (err instanceof GroupcastError) hooks.onRejected(err.code);
    else hooks.logError(err);
    const { status, body, retryAfter } = errorReply(err);
    const extra: string[] = [];
    if (retryAfter) extra.push('Retry-After', retryAfter);
    // As the app's answer: a body refused by its size ends the connection (refused-body.ts).
    const close = status === 413;
    if (close) extra.push('Connection', 'close');
    return { status, body, extra, close };
  };
  const accepted = (reply: unknown): JsonAnswer => ({
    status: 202,
    body: reply,
    extra: [],
    close: false,
  });
  return (head, remote) => {
    const type = head.contentType;
    const lower = type === undefined ? '' : type.toLowerCase();
    const batch = lower.startsWith('application/x-ndjson') || lower.startsWith(FRAMES_TYPE);
    const length = head.contentLength;
    if (Number(length) > (batch ? options.maxBodyBytes : options.maxMessageBytes)) return null;
    let token: string | undefined;
    if (auth) {
      token = bearerToken(head.authorization);
      if (token === undefined) return null;
    }
    if (!admits(remote)) return null;
    const group = head.group;
    return (body) =>
      publish({
        group,
        contentType: type,
        contentLength: length,
        remote,
        grants: auth ? () => auth.verify(token) : NO_GRANTS,
        body,
      }).then(accepted, fail);
  };
}

/**
 * `POST /groups/:group/messages` on node:http without the Web layer: no Request, Response,
 * Headers, Context or router per POST, the body read from the socket's own chunks. It takes what
 * `publishTaker` takes, with a plain path. The POST is the API's hot path: this took about a
 * quarter of its CPU off (docs/performance.md).
 */
export function nodePublishPath(
  parts: ApiParts,
  options: ApiOptions,
  hooks: NodePublishHooks,
): NodeFastPath | null {
  const take = publishTaker(parts, options, hooks);
  if (!take) return null;
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (!url.startsWith(PREFIX) || !url.endsWith(SUFFIX)) return false;
    const group = url.slice(PREFIX.length, url.length - SUFFIX.length);
    if (!plainGroup(group)) return false;
    const h = req.headers;
    const length = h['content-length'];
    if (length === undefined || h['transfer-encoding'] !== undefined) return false;
    const call = take(
      {
        group,
        contentType: h['content-type'],
        contentLength: length,
        authorization: h.authorization,
      },
      hooks.remote(req),
    );
    if (!call) return false;
    // After the parser is done with this read: a body that came with its headers is then
    // buffered whole, and is read at once, with no listeners.
    queueMicrotask(() => {
      call(() => readBody(req, Number(length))).then((a) => answer(res, a.status, a.body, a.extra));
    });
    return true;
  };
}

/** A JSON answer as the app gives one, with `extra` header pairs. */
function answer(res: ServerResponse, status: number, body: unknown, extra: string[] = []): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, [
    'Content-Type',
    'application/json',
    'Content-Length',
    String(Buffer.byteLength(text)),
    ...extra,
  ]);
  res.end(text);
}

/**
 * The whole body, as Node's parser hands it over (it stops at Content-Length, checked against
 * the limit already). A body that comes in one chunk is that chunk, the socket's own read (the
 * hub copies what it keeps); a longer one is copied chunk by chunk into one buffer of its
 * declared size, so it is never held twice.
 */
function readBody(req: IncomingMessage, size: number): Promise<Uint8Array> {
  if (req.complete && !req.readableDidRead) {
    const whole = req.read() as Buffer | null;
    return Promise.resolve(whole ?? new Uint8Array(0));
  }
  return new Promise((resolve, reject) => {
    let first: Buffer | null = null;
    let out: Buffer | null = null;
    let at = 0;
    req.on('data', (chunk: Buffer) => {
      if (first === null && out === null && chunk.byteLength === size) first = chunk;
      else {
        out ??= Buffer.allocUnsafe(size);
        chunk.copy(out, at);
        at += chunk.byteLength;
      }
    });
    req.on('end', () => {
      resolve(first ?? (out ? out.subarray(0, at) : new Uint8Array(0)));
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('Client connection prematurely closed.'));
    });
  });
}
