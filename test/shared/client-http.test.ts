import { createServer } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Backoff } from '../../shared/backoff.ts';
import { HttpClient } from '../../shared/client/http.ts';
import type {
  Subscription,
  SubscriptionEvent,
  SubscriptionStatus,
} from '../../shared/client/subscription.ts';
import { RemoteError } from '../../shared/errors.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { baseUrl, post } from '../helpers/http.ts';
import { TcpProxy } from '../helpers/proxy.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

let sc: Sidecar;
const cleanup: (() => unknown)[] = [];

test.before.each(async () => {
  sc = await startTestSidecar({ heartbeatMs: 200 });
});
test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await sc.close();
});

/** Collects a subscription's events in the background. */
function collect(sub: Subscription): { events: SubscriptionEvent[]; done: Promise<unknown> } {
  const events: SubscriptionEvent[] = [];
  cleanup.push(() => sub.close());
  const done = (async () => {
    for await (const e of sub) events.push(e);
  })().catch((err) => err);
  return { events, done };
}

const texts = (events: SubscriptionEvent[]) =>
  events.flatMap((e) => (e.type === 'message' ? [e.text] : []));

async function sseMembers(group: string, n: number): Promise<void> {
  await waitFor(() => sc.hub.findGroup(group)?.counts.sse === n, 3000, `${n} SSE members`);
}

test('publish answers the stored ids and reaches a TCP member', async () => {
  const peer = await TcpPeer.open(sc.addresses.tcp as string, 'lobby');
  cleanup.push(() => peer.close());
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.tcp === 1);
  const client = new HttpClient({ url: baseUrl(sc) });
  const result = await client.publish('lobby', 'hello from http');
  assert.is(result.ids.length, 1);
  assert.match(result.ids[0], /^\d+-1$/);
  assert.is(result.recipients, 1);
  await peer.waitForText('hello from http\n');
  const groups = await client.groups();
  assert.equal(
    groups.map((g) => [g.group, g.counts.tcp]),
    [['lobby', 1]],
  );
  assert.is((await client.group('lobby')).members[0].transport, 'tcp');
});

test('an error answer becomes a RemoteError with the server code, and nothing is retried', async () => {
  const client = new HttpClient({ url: baseUrl(sc) });
  const err = await client.group('nobody-here').catch((e) => e);
  assert.instance(err, RemoteError);
  assert.is(err.code, 'GROUP_NOT_FOUND');
  assert.is(err.status, 404);
  const big = await client.publish('x', new Uint8Array(2 * 1024 * 1024)).catch((e) => e);
  assert.is(big.code, 'MESSAGE_TOO_LARGE');
});

test('subscribe yields text and binary messages in order, with their ids', async () => {
  // Raw framing: a message may hold a newline.
  await sc.close();
  sc = await startTestSidecar({ tcpFraming: 'raw' });
  const client = new HttpClient({ url: baseUrl(sc) });
  const { events } = collect(client.subscribe('feed'));
  await sseMembers('feed', 1);
  const before = Date.now();
  const a = await client.publish('feed', 'first');
  const b = await client.publish('feed', Uint8Array.of(0xff, 0x00, 0x0d, 0x41));
  const c = await client.publish('feed', 'multi\nline');
  await waitFor(() => events.length >= 3);
  const [e1, e2, e3] = events;
  const time = e1.type === 'message' ? e1.time : undefined;
  // The publish time from the stream: when the sidecar received it, not when it arrived here.
  assert.ok(time !== undefined && time >= before && time <= Date.now(), `time ${time}`);
  assert.equal(e1, {
    type: 'message',
    id: a.ids[0],
    data: e1.type === 'message' ? e1.data : null,
    text: 'first',
    binary: false,
    time,
  });
  assert.ok(e2.type === 'message' && e2.binary && e2.id === b.ids[0]);
  assert.equal(e2.type === 'message' && [...e2.data], [0xff, 0x00, 0x0d, 0x41]);
  assert.ok(e3.type === 'message' && e3.text === 'multi\nline' && e3.id === c.ids[0]);
});

test("from: 'earliest' replays what the server holds, then goes live", async () => {
  for (const m of ['h1', 'h2']) await post(sc, 'hist', m);
  const client = new HttpClient({ url: baseUrl(sc) });
  const { events } = collect(client.subscribe('hist', { from: 'earliest' }));
  await waitFor(() => events.length >= 2);
  await client.publish('hist', 'live');
  await waitFor(() => events.length >= 3);
  assert.equal(texts(events), ['h1', 'h2', 'live']);
});

test('a cut connection is resumed with Last-Event-ID: nothing lost, nothing twice, no gap', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  cleanup.push(() => proxy.close());
  const statuses: SubscriptionStatus[] = [];
  const client = new HttpClient({ url: proxy.url });
  const publisher = new HttpClient({ url: baseUrl(sc) });
  const sub = client.subscribe('resume', {
    backoff: { initialMs: 50, maxMs: 200 },
    onStatus: (s) => statuses.push(s),
  });
  const { events } = collect(sub);
  await sseMembers('resume', 1);
  for (let i = 0; i < 3; i++) await publisher.publish('resume', `before${i}`);
  await waitFor(() => events.length >= 3);
  proxy.cut();
  // Published while the subscriber is away: must arrive after the reconnect.
  for (let i = 0; i < 3; i++) await publisher.publish('resume', `during${i}`);
  await waitFor(() => events.length >= 6, 5000, 'resumed messages');
  await publisher.publish('resume', 'after');
  await waitFor(() => events.length >= 7);
  assert.equal(texts(events), [
    'before0',
    'before1',
    'before2',
    'during0',
    'during1',
    'during2',
    'after',
  ]);
  assert.not.ok(events.some((e) => e.type === 'gap'));
  assert.ok(statuses.some((s) => s.type === 'reconnecting'));
  assert.is(proxy.accepted, 2, 'exactly one reconnect');
  assert.is(sub.lastEventId, (events[6] as { id: string }).id);
});

test('a live subscription cut before its first message still resumes where it started', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  cleanup.push(() => proxy.close());
  const publisher = new HttpClient({ url: baseUrl(sc) });
  await publisher.publish('first-outage', 'old, before the subscription');
  const sub = new HttpClient({ url: proxy.url }).subscribe('first-outage', {
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const { events } = collect(sub);
  await sseMembers('first-outage', 1);
  // The stream has told the client its position, though no message has come yet.
  await waitFor(() => sub.lastEventId !== undefined, 3000, 'the position marker');
  proxy.cut();
  await publisher.publish('first-outage', 'during the outage');
  await waitFor(() => events.length >= 1, 5000, 'the message from the outage');
  assert.equal(texts(events), ['during the outage']);
  assert.not.ok(events.some((e) => e.type === 'gap'));
  assert.is(proxy.accepted, 2);
});

test('a hub that lost the history surfaces a typed gap, then continues', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  cleanup.push(() => proxy.close());
  const client = new HttpClient({ url: proxy.url });
  const { events } = collect(client.subscribe('g', { backoff: { initialMs: 50, maxMs: 100 } }));
  await sseMembers('g', 1);
  const first = await client.publish('g', 'one');
  await waitFor(() => events.length >= 1);
  // A second, fresh sidecar: the first one's ids mean nothing to it.
  const other = await startTestSidecar();
  cleanup.push(() => other.close());
  proxy.retarget(other.addresses.http as string);
  proxy.cut();
  await waitFor(() => other.hub.findGroup('g')?.counts.sse === 1, 5000, 'resubscribed');
  await new HttpClient({ url: baseUrl(other) }).publish('g', 'two');
  await waitFor(() => events.length >= 3);
  const gap = events[1];
  assert.is(gap.type, 'gap');
  assert.ok(gap.type === 'gap' && gap.requested === first.ids[0]);
  assert.ok(gap.type === 'gap' && gap.reason === 'reset', 'an earlier run of the group');
  assert.equal(texts(events), ['one', 'two']);
});

test('a silent connection is detected by the idle timeout and replaced', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  cleanup.push(() => proxy.close());
  const client = new HttpClient({ url: proxy.url });
  const statuses: SubscriptionStatus[] = [];
  const { events } = collect(
    client.subscribe('quiet', {
      idleTimeoutMs: 700,
      backoff: { initialMs: 20, maxMs: 50 },
      onStatus: (s) => statuses.push(s),
    }),
  );
  await sseMembers('quiet', 1);
  // Heartbeats every 200 ms keep a healthy stream alive past the idle timeout.
  await sleep(1000);
  assert.is(proxy.accepted, 1, 'heartbeats keep a healthy stream');
  proxy.stall();
  const started = Date.now();
  await waitFor(() => proxy.accepted === 2, 3000, 'a new connection');
  assert.ok(Date.now() - started < 2000, 'detected within about the idle timeout');
  const reconnect = statuses.find((s) => s.type === 'reconnecting');
  assert.match(
    reconnect?.type === 'reconnecting' ? reconnect.error.message : '',
    /nothing received/,
  );
  // A live subscription that has received nothing yet resumes live: wait until it is back.
  await waitFor(() => statuses.filter((s) => s.type === 'live').length === 2, 3000, 'live again');
  await new HttpClient({ url: baseUrl(sc) }).publish('quiet', 'still here');
  await waitFor(() => events.length >= 1);
  assert.equal(texts(events), ['still here']);
});

test('a permanent error ends the iteration at once with the server code', async () => {
  const client = new HttpClient({ url: `${baseUrl(sc)}/no-such-prefix` });
  const statuses: SubscriptionStatus[] = [];
  const sub = client.subscribe('x', { onStatus: (s) => statuses.push(s) });
  const err = await (async () => {
    for await (const _ of sub) {
    }
  })().catch((e) => e);
  assert.instance(err, RemoteError);
  assert.is(err.code, 'NOT_FOUND');
  assert.is(statuses.filter((s) => s.type === 'connecting').length, 1, 'not retried');
});

test('an unreachable server is retried with growing delays, then UNREACHABLE after maxAttempts', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  const url = proxy.url;
  await proxy.close(); // nothing listens there now
  const statuses: SubscriptionStatus[] = [];
  const sub = new HttpClient({ url }).subscribe('x', {
    maxAttempts: 4,
    backoff: { initialMs: 20, maxMs: 60, jitter: 0 },
    onStatus: (s) => statuses.push(s),
  });
  const err = await (async () => {
    for await (const _ of sub) {
    }
  })().catch((e) => e);
  assert.is(err.code, 'UNREACHABLE');
  assert.match(err.message, /gave up after 4 attempts/);
  assert.equal(
    statuses.flatMap((s) => (s.type === 'reconnecting' ? [s.delayMs] : [])),
    [20, 40, 60],
  );
});

test('close() ends an idle iteration promptly and the server drops the member', async () => {
  const client = new HttpClient({ url: baseUrl(sc) });
  const sub = client.subscribe('bye');
  const { done } = collect(sub);
  await sseMembers('bye', 1);
  const t0 = Date.now();
  sub.close();
  await done;
  assert.ok(Date.now() - t0 < 500);
  await waitFor(() => (sc.hub.findGroup('bye')?.counts.sse ?? 0) === 0, 3000, 'member gone');
});

test('breaking out of for-await closes the stream', async () => {
  const client = new HttpClient({ url: baseUrl(sc) });
  const sub = client.subscribe('brk');
  const first = (async () => {
    for await (const e of sub) return e;
  })();
  await sseMembers('brk', 1);
  await client.publish('brk', 'x');
  const e = await first;
  assert.ok(e?.type === 'message' && e.text === 'x');
  assert.ok(sub.closed);
  await waitFor(() => (sc.hub.findGroup('brk')?.counts.sse ?? 0) === 0, 3000, 'member gone');
});

test('a token is sent as a bearer header, renewed per request when it is a function', async () => {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"groups":[]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const { port } = server.address() as { port: number };
  let n = 0;
  await new HttpClient({ url: `http://127.0.0.1:${port}`, token: 'static' }).groups();
  const renewing = new HttpClient({ url: `http://127.0.0.1:${port}`, token: () => `t${++n}` });
  await renewing.groups();
  await renewing.groups();
  assert.equal(seen, ['Bearer static', 'Bearer t1', 'Bearer t2']);
});

test('with auth on: no token is a 401 that ends the subscription; a key works', async () => {
  await sc.close();
  sc = await startTestSidecar({ apiKeys: ['k-123'] });
  const anonymous = new HttpClient({ url: baseUrl(sc) });
  const denied = await anonymous.groups().catch((e) => e);
  assert.is(denied.code, 'UNAUTHORIZED');
  assert.is(denied.status, 401);
  const statuses: SubscriptionStatus[] = [];
  const err = await (async () => {
    for await (const _ of anonymous.subscribe('x', { onStatus: (s) => statuses.push(s) })) {
    }
  })().catch((e) => e);
  assert.is(err.code, 'UNAUTHORIZED');
  assert.is(statuses.filter((s) => s.type === 'connecting').length, 1, 'not retried');
  const client = new HttpClient({ url: baseUrl(sc), token: 'k-123' });
  const { events } = collect(client.subscribe('x'));
  await sseMembers('x', 1);
  await client.publish('x', 'authorized');
  await waitFor(() => events.length === 1);
  assert.equal(texts(events), ['authorized']);
});

/** A one-route HTTP server on a free port, closed after the test. */
async function fakeServer(handle: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

test("messages pages a group's history with the exact bytes, and GROUP_NOT_FOUND for an unknown group", async () => {
  const client = new HttpClient({ url: baseUrl(sc) });
  const a = await client.publish('pages', 'one');
  await client.publish('pages', Uint8Array.of(0xff, 0x00, 0x01));
  await client.publish('pages', 'three');
  const first = await client.messages('pages', { limit: 2 });
  assert.is(first.more, true);
  assert.equal(
    first.messages.map((m) => [...m.data]),
    [[...new TextEncoder().encode('one')], [0xff, 0x00, 0x01]],
  );
  assert.is(first.messages[0].id, a.ids[0]);
  const rest = await client.messages('pages', { after: first.messages[1].id });
  assert.equal(
    rest.messages.map((m) => new TextDecoder().decode(m.data)),
    ['three'],
  );
  assert.is(rest.more, false);
  assert.is(rest.lastId, rest.messages[0].id);
  const missing = await client.messages('nowhere').catch((e) => e);
  assert.instance(missing, RemoteError);
  assert.is(missing.code, 'GROUP_NOT_FOUND');
});

test('health answers the report, also when the server says it is down with a 503', async () => {
  assert.is((await new HttpClient({ url: baseUrl(sc) }).health()).status, 'ok');
  const down = await fakeServer((_req, res) => {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end('{"status":"down","listeners":{}}');
  });
  assert.is((await new HttpClient({ url: down }).health()).status, 'down');
});

test('an answer slower than timeoutMs is UNREACHABLE, its body included; not JSON is REMOTE_ERROR', async () => {
  const slow = await fakeServer((_req, res) => {
    // Headers at once, the body late: the limit covers the whole answer.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"groups":');
    setTimeout(() => res.end('[]}'), 1500);
  });
  const started = Date.now();
  const err = await new HttpClient({ url: slow, timeoutMs: 200 }).groups().catch((e) => e);
  assert.is(err.code, 'UNREACHABLE');
  assert.match(err.message, /did not answer within 200 ms/);
  assert.ok(Date.now() - started < 1200, `${Date.now() - started} ms`);
  const html = await fakeServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<html>a captive portal</html>');
  });
  const foreign = await new HttpClient({ url: html }).groups().catch((e) => e);
  assert.instance(foreign, RemoteError);
  assert.is(foreign.code, 'REMOTE_ERROR');
});

test('events opens the raw stream after Last-Event-ID; aborting it drops the member', async () => {
  const client = new HttpClient({ url: baseUrl(sc) });
  const one = await client.publish('raw', 'one');
  await client.publish('raw', 'two');
  const ctl = new AbortController();
  const res = await client.events('raw', { lastEventId: one.ids[0], signal: ctl.signal });
  assert.is(res.headers.get('content-type')?.startsWith('text/event-stream'), true);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await sseMembers('raw', 1);
  await client.publish('raw', 'three');
  const deadline = setTimeout(() => ctl.abort(), 5000);
  let text = '';
  while (!text.includes('data: three')) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  clearTimeout(deadline);
  assert.match(text, /data: two\n[\s\S]*data: three/);
  assert.not.match(text, /data: one/);
  ctl.abort();
  await reader.read().catch(() => {});
  await sseMembers('raw', 0);
});

test('backoff grows by its factor, is capped, and jitter only shortens it', () => {
  const plain = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
  assert.equal(
    Array.from({ length: 6 }, () => plain.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  plain.reset();
  assert.is(plain.next(), 100);
  const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 1);
  const high = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0);
  for (let i = 0; i < 10; i++) {
    const [l, h] = [low.next(), high.next()];
    assert.ok(l >= h / 2 && l <= h && h <= 1000, `${l} ${h}`);
  }
});

test.run();
