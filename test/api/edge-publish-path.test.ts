// The edge's own path for `POST /groups/:group/messages` (api/web-publish.ts) answers exactly as
// the Hono route it skips: the same POST is sent once as it is (the fast path takes it) and once
// with a query string (which the fast path leaves to the app), on a real edge (Deno) in front of
// a real sidecar (Node), and the two answers are compared header by header.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEdgeProcess, startSidecarProcess } from '../helpers/edge.ts';
import type { Started } from '../helpers/process.ts';
import { SseClient } from '../helpers/sse.ts';

let sidecar: Started;
let edge: Started;
const ed = () => edge.addresses.http;

test.before(async () => {
  sidecar = await startSidecarProcess({ GROUPCAST_MAX_MESSAGE_BYTES: '1KiB' });
  edge = await startEdgeProcess(sidecar.addresses.http, {
    GROUPCAST_API_KEYS: 'edge-key',
    GROUPCAST_MAX_BATCH_MESSAGES: '3',
    GROUPCAST_RATE_LIMIT: '1',
    GROUPCAST_RATE_BURST: '60',
  });
});
test.after(async () => {
  await edge?.stop();
  await sidecar?.stop();
});

interface Seen {
  status: number;
  headers: [string, string][];
  json: Record<string, unknown>;
}

async function post(
  path: string,
  body: Uint8Array<ArrayBuffer> | string,
  headers: Record<string, string>,
): Promise<Seen> {
  const res = await fetch(`http://${ed()}${path}`, { method: 'POST', body, headers });
  const text = await res.text();
  // The date moves and the length follows the ids; every other header must match.
  const kept = [...res.headers].filter(([k]) => k !== 'date' && k !== 'content-length');
  return { status: res.status, headers: kept, json: JSON.parse(text) };
}

const BEARER = { Authorization: 'Bearer edge-key' };

function frames(...texts: string[]): Uint8Array<ArrayBuffer> {
  const parts = texts.map((t) => new TextEncoder().encode(t));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

test('the fast path answers each case with the status, headers and body shape of the app', async () => {
  const ndjson = { ...BEARER, 'Content-Type': 'application/x-ndjson' };
  const framed = { ...BEARER, 'Content-Type': 'application/x-groupcast-frames' };
  const cases: [
    string,
    Uint8Array<ArrayBuffer> | string,
    Record<string, string>,
    number,
    string?,
  ][] = [
    ['/groups/fast/messages', 'one message', BEARER, 202],
    ['/groups/fast/messages', '{"a":1}\n{"b":2}\n', ndjson, 202],
    ['/groups/fast/messages', frames('x', 'y'), framed, 202],
    ['/groups/fast/messages', '', BEARER, 400, 'EMPTY_MESSAGE'],
    ['/groups/fast/messages', new Uint8Array([0, 0, 0, 9, 1]), framed, 400, 'BAD_REQUEST'],
    ['/groups/fast/messages', frames('a', 'b', 'c', 'd'), framed, 413, 'TOO_MANY_MESSAGES'],
    ['/groups/fast/messages', '{"a":1}\nnope\n', ndjson, 400, 'INVALID_NDJSON'],
    ['/groups/fast/messages', 'x', { Authorization: 'Bearer wrong' }, 401, 'UNAUTHORIZED'],
    [`/groups/${'g'.repeat(300)}/messages`, 'x', BEARER, 400, 'INVALID_GROUP_ID'],
  ];
  for (const [path, body, headers, status, code] of cases) {
    const what = `${path.slice(0, 40)} ${code ?? status}`;
    const fast = await post(path, body, headers);
    const app = await post(`${path}?via=app`, body, headers);
    assert.is(fast.status, status, `${what}: ${JSON.stringify(fast.json)}`);
    assert.is(app.status, status, `${what} (app)`);
    assert.equal(fast.headers, app.headers, what);
    if (code) {
      assert.equal(fast.json, app.json, what);
      assert.is((fast.json.error as { code: string }).code, code, what);
    } else {
      assert.equal(Object.keys(fast.json), Object.keys(app.json), what);
      assert.is(fast.json.recipients, app.json.recipients, what);
      assert.is((fast.json.ids as string[]).length, (app.json.ids as string[]).length, what);
    }
  }
});

test('a POST on the fast path reaches an edge subscriber with the id its answer gave', async () => {
  const sub = await SseClient.open(`http://${ed()}/groups/fast-sub/events`, BEARER);
  try {
    const seen = await post('/groups/fast-sub/messages', 'through the fast path', BEARER);
    assert.is(seen.status, 202);
    const [event] = await sub.waitForMessages(1);
    assert.is(event.data, 'through the fast path');
    assert.is(event.id, (seen.json.ids as string[])[0]);
  } finally {
    sub.close();
  }
});

test('the fast path and the app charge one rate bucket per address', async () => {
  // A burst of 60, one more a second: spent by both paths in turn, then refused on both.
  const fast = '/groups/rate/messages';
  const app = '/groups/rate/messages?via=app';
  let refused: { path: string; seen: Seen } | null = null;
  for (let i = 0; i < 70 && !refused; i++) {
    const path = i % 2 ? fast : app;
    const seen = await post(path, 'x', BEARER);
    if (seen.status !== 202) refused = { path, seen };
  }
  assert.ok(refused, 'the burst runs out within 70 POSTs');
  assert.is(refused.seen.status, 429);
  assert.is((refused.seen.json.error as { code: string }).code, 'RATE_LIMITED');
  const other = await post(refused.path === fast ? app : fast, 'x', BEARER);
  assert.is(other.status, 429, 'the other path finds the same bucket empty');
  assert.equal(other.json, refused.seen.json);
});

test.run();
