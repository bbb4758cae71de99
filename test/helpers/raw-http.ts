/** Raw HTTP/1.1 exchanges on one socket, and what of their answers must not differ between servers. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { hostPort, sleep } from './common.ts';

export interface Sent {
  raw: Buffer;
  /** The server ended the connection (else it was still open after `idleMs` of silence). */
  closed: boolean;
}

export interface ExchangeOptions {
  /** Pause between parts. */
  gapMs?: number;
  /** Silence after the last part that ends the wait. */
  idleMs?: number;
  /** Stop as soon as this holds of what came back. */
  until?: (raw: Buffer) => boolean;
}

/** Writes `parts` on one raw connection and collects what comes back. */
export function exchange(
  address: string,
  parts: (string | Buffer)[],
  { gapMs = 0, idleMs = 300, until }: ExchangeOptions = {},
): Promise<Sent> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    let raw = Buffer.alloc(0);
    let ended = false;
    let written = false;
    let idle: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(hard);
      clearTimeout(idle);
      socket.destroy();
      resolve({ raw, closed });
    };
    const arm = () => {
      clearTimeout(idle);
      if (written) idle = setTimeout(() => done(false), idleMs);
    };
    const hard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end; have ${JSON.stringify(raw.toString('latin1'))}`));
    }, 8000);
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      if (until?.(raw)) done(false);
      else arm();
    });
    socket.on('end', () => {
      ended = true;
    });
    socket.on('close', () => done(ended));
    socket.on('connect', async () => {
      for (const p of parts) {
        if (gapMs > 0) await sleep(gapMs);
        if (socket.destroyed) return;
        socket.write(p);
      }
      written = true;
      arm();
    });
  });
}

export interface Answer {
  status: number;
  headers: Map<string, string>;
  names: string[];
  body: string;
}

/** The answers in `raw`, one after the other; a chunked one (SSE) takes the rest. */
export function answers(raw: Buffer): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at < raw.byteLength) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`a cut head: ${JSON.stringify(raw.toString('latin1', at))}`);
    const lines = raw.toString('latin1', at, end).split('\r\n');
    const headers = new Map<string, string>();
    const names: string[] = [];
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      const name = l.slice(0, colon);
      names.push(name);
      headers.set(name.toLowerCase(), l.slice(colon + 1).trim());
    }
    const length = headers.get('content-length');
    const start = end + 4;
    const status = Number(lines[0].split(' ')[1]);
    const stop =
      status < 200 ? start : length === undefined ? raw.byteLength : start + Number(length);
    out.push({ status, headers, names, body: raw.toString('utf8', start, stop) });
    at = stop;
  }
  return out;
}

/** What must not differ between the front and node:http (dates and ids do). */
export function shape(sent: Sent) {
  return {
    closed: sent.closed,
    answers: answers(sent.raw).map((a) => {
      let body: unknown = a.body;
      if (a.headers.get('content-type') === 'application/json') {
        const json = JSON.parse(a.body);
        if (json.ids) json.ids = json.ids.map(() => 'id');
        if (json.id) json.id = 'id';
        body = json;
      } else if (a.headers.get('content-type')?.startsWith('text/event-stream')) {
        // Times and ids (`<time>-<seq>`) differ between servers; chunk sizes do not.
        body = a.body.replace(/\b\d{13}(?=\b|-)/g, 'T');
      }
      const headers = a.names
        .filter((n) => n !== 'Date')
        .map((n) => [n, a.headers.get(n.toLowerCase())]);
      return { status: a.status, headers, body, dated: a.headers.has('date') };
    }),
  };
}

/** The HS256 secret the front's auth tests give the sidecar (jwtSecret). */
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256';

/** A token signed with TEST_JWT_SECRET, valid for an hour. */
export function hs256(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/**
 * Counts the requests node:http itself handles in this process (its
 * `http.server.request.start` diagnostics channel), over a uvu suite: what the raw front
 * answered never shows here, which tells which side answered; `urls` lists what node:http got.
 */
export function countNodeRequests(suite: {
  before: (fn: () => void) => void;
  after: (fn: () => void) => void;
}): { count: number; urls: string[] } {
  const counter = { count: 0, urls: [] as string[] };
  const onRequest = (message: unknown) => {
    counter.count++;
    counter.urls.push((message as { request: { url: string } }).request.url);
  };
  suite.before(() => subscribe('http.server.request.start', onRequest));
  suite.after(() => {
    unsubscribe('http.server.request.start', onRequest);
  });
  return counter;
}
