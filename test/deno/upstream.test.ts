// The edge's upstream streams on Deno against a real sidecar process, with a TCP proxy between
// them that the tests cut to stand for a network failure.
import assert from 'node:assert/strict';
import { readSeries } from '../helpers/metrics.ts';
import {
  type SseClient as Client,
  CutProxy,
  post,
  publish,
  SseClient,
  sidecarSse,
  sleep,
  startEdge,
  startSidecar,
  waitFor,
} from './helpers.ts';

const gaps = (c: Client) => c.events.filter((e) => e.event === 'gap');

Deno.test('an upstream cut mid-stream reopens with Last-Event-ID: nothing lost, nothing twice, no gap', async () => {
  const sidecar = await startSidecar();
  const proxy = new CutProxy(sidecar.http);
  const edge = startEdge(proxy.address);
  const clients: Client[] = [];
  try {
    const a = await SseClient.open(`http://${edge.base}/groups/cut/events`);
    const b = await SseClient.open(`http://${edge.base}/groups/cut/events`);
    clients.push(a, b);
    assert.equal(a.status, 200);
    const before = await publish(sidecar.http, 'cut', ['1', '2', '3']);
    await a.waitForMessages(3);
    proxy.refuse = true;
    await proxy.cut();
    await waitFor(
      () => edge.hub.upstream('cut')?.state === 'backoff',
      5000,
      'the upstream to fail',
    );
    const during = await publish(sidecar.http, 'cut', ['4', '5', '6']);
    proxy.refuse = false;
    const after = await publish(sidecar.http, 'cut', ['7']).then(async (ids) => {
      await a.waitForMessages(7);
      return ids;
    });
    await b.waitForMessages(7);
    await sleep(30);
    for (const c of [a, b]) {
      assert.deepEqual(
        c.messages().map((e) => e.id),
        [...before, ...during, ...after],
      );
      assert.equal(gaps(c).length, 0);
    }
    assert.equal(edge.hub.stats.upstreamOpens, 2, 'one stream, reopened once');
    assert.ok(proxy.sent.includes(`last-event-id: ${before[2]}`), 'resumed after the last id');
    assert.equal(await sidecarSse(sidecar.http, 'cut'), 1);
  } finally {
    for (const c of clients) await c.close();
    await edge.close();
    await proxy.close();
    await sidecar.stop();
  }
});

Deno.test('an outage longer than the history window gives an evicted gap, then what is held', async () => {
  const sidecar = await startSidecar({ GROUPCAST_HISTORY_MESSAGES: '3' });
  const proxy = new CutProxy(sidecar.http);
  const edge = startEdge(proxy.address);
  let c: Client | undefined;
  try {
    c = await SseClient.open(`http://${edge.base}/groups/ev/events`);
    const before = await publish(sidecar.http, 'ev', ['a']);
    await c.waitForMessages(1);
    proxy.refuse = true;
    await proxy.cut();
    await waitFor(() => edge.hub.upstream('ev')?.state === 'backoff', 5000, 'the upstream to fail');
    const during = await publish(sidecar.http, 'ev', ['b', 'c', 'd', 'e', 'f']);
    proxy.refuse = false;
    await c.waitForMessages(4);
    await sleep(30);
    assert.deepEqual(
      c.messages().map((e) => e.data),
      ['a', 'd', 'e', 'f'],
    );
    assert.equal(gaps(c).length, 1);
    assert.deepEqual(JSON.parse(gaps(c)[0].data), {
      requested: before[0],
      resumedFrom: during[2],
      reason: 'evicted',
    });
    // Publish times (`time` events) come between too; the order of messages and gap is the point.
    const shown = c.events.filter((e) => e.event !== 'time');
    assert.equal(shown.indexOf(gaps(c)[0]), 1, 'between what it had and what is held');
  } finally {
    await c?.close();
    await edge.close();
    await proxy.close();
    await sidecar.stop();
  }
});

Deno.test('reconnect backoff grows from its minimum, never passes its maximum, and keeps trying', async () => {
  const sidecar = await startSidecar();
  const proxy = new CutProxy(sidecar.http);
  const edge = startEdge(proxy.address, { retryMinMs: 10, retryMaxMs: 80 });
  let c: Client | undefined;
  try {
    c = await SseClient.open(`http://${edge.base}/groups/bo/events`);
    assert.equal(c.status, 200);
    proxy.refuse = true;
    await proxy.cut();
    await sleep(1000);
    const delays = edge.logs
      .filter((l) => l.msg.startsWith('upstream failed'))
      .map((l) => Number(l.fields?.retryInMs));
    assert.ok(delays.length >= 8, `still trying: ${delays.length} attempts in 1 s`);
    assert.ok(
      delays.every((d) => d >= 5 && d <= 80),
      `bounded: ${delays}`,
    );
    assert.ok(Math.max(...delays) > 40, `grew: ${delays}`);
    proxy.refuse = false;
    const t0 = Date.now();
    await waitFor(() => edge.hub.upstream('bo')?.state === 'open', 2000, 'the upstream to reopen');
    assert.ok(Date.now() - t0 < 1000);
    const [id] = await publish(sidecar.http, 'bo', ['back']);
    assert.equal((await c.waitForMessages(1))[0].id, id);
  } finally {
    await c?.close();
    await edge.close();
    await proxy.close();
    await sidecar.stop();
  }
});

Deno.test('the upstream closes when its last subscriber leaves and opens again for the next', async () => {
  const sidecar = await startSidecar();
  const edge = startEdge(sidecar.http);
  const clients: Client[] = [];
  try {
    const url = `http://${edge.base}/groups/refs/events`;
    const a = await SseClient.open(url);
    const b = await SseClient.open(url);
    clients.push(a, b);
    assert.equal(await sidecarSse(sidecar.http, 'refs'), 1);
    await a.close();
    await waitFor(() => edge.hub.subscribers === 1, 2000, 'a to leave');
    assert.equal(await sidecarSse(sidecar.http, 'refs'), 1, 'b still holds it');
    await b.close();
    await waitFor(() => edge.hub.subscribers === 0, 2000, 'b to leave');
    assert.equal(edge.hub.upstream('refs'), undefined);
    await waitFor(
      async () => (await sidecarSse(sidecar.http, 'refs')) === 0,
      2000,
      'the sidecar to see it go',
    );
    const c = await SseClient.open(url);
    clients.push(c);
    assert.equal(await sidecarSse(sidecar.http, 'refs'), 1);
    await publish(edge.base, 'refs', ['again']);
    assert.equal((await c.waitForMessages(1))[0].data, 'again');
  } finally {
    for (const c of clients) await c.close();
    await edge.close();
    await sidecar.stop();
  }
});

Deno.test('a slow edge subscriber is cut at its queue limit while a fast one gets everything', async () => {
  const sidecar = await startSidecar();
  const edge = startEdge(sidecar.http, {}, { sseQueueBytes: 64 * 1024 });
  let fast: Client | undefined;
  let slow: Deno.TcpConn | undefined;
  let tcp: Deno.TcpConn | undefined;
  try {
    const cutSse = { transport: 'sse' };
    const slowCut = () =>
      readSeries(`http://${edge.base}`, 'groupcast_slow_consumer_disconnects_total', cutSse);
    const before = await slowCut();
    fast = await SseClient.open(`http://${edge.base}/groups/slow/events`);
    // A subscriber that never reads: the request is sent, the socket is left alone.
    const [host, port] = edge.base.split(':');
    slow = await Deno.connect({ hostname: host, port: Number(port) });
    await slow.write(
      new TextEncoder().encode(`GET /groups/slow/events HTTP/1.1\r\nHost: ${edge.base}\r\n\r\n`),
    );
    await waitFor(() => edge.hub.subscribers === 2, 2000, 'two subscribers');
    const [th, tp] = sidecar.tcp.split(':');
    tcp = await Deno.connect({ hostname: th, port: Number(tp) });
    await tcp.write(new TextEncoder().encode('SOCKETFORWARDER-NEW:slow\n'));
    const line = `${'s'.repeat(999)}\n`;
    const total = 20_000;
    const f = fast;
    for (let sent = 0; sent < total; sent += 100) {
      await tcp.write(new TextEncoder().encode(line.repeat(100)));
      await waitFor(() => f.messages().length >= sent - 1000, 10_000, 'the fast reader');
    }
    await fast.waitForMessages(total, 20_000);
    assert.equal(fast.messages().length, total);
    assert.ok(fast.messages().every((e) => e.data.length === 999));
    await waitFor(() => edge.hub.stats.slowConsumers === 1, 5000, 'the slow one to be cut');
    await waitFor(() => edge.hub.subscribers === 1, 2000, 'the slow one to be gone');
    assert.equal(await sidecarSse(sidecar.http, 'slow'), 1, 'the upstream was never cut');
    assert.equal(await slowCut(), before + 1, 'the cut is in the edge /metrics');
  } finally {
    slow?.close();
    tcp?.close();
    await fast?.close();
    await edge.close();
    await sidecar.stop();
  }
});

Deno.test('with the sidecar out of reach, publishing and subscribing answer 502 UPSTREAM_UNAVAILABLE', async () => {
  const sidecar = await startSidecar();
  const proxy = new CutProxy(sidecar.http);
  proxy.refuse = true;
  const edge = startEdge(proxy.address);
  try {
    const p = await post(edge.base, 'g', 'x');
    assert.equal(p.status, 502);
    assert.equal((await p.json()).error.code, 'UPSTREAM_UNAVAILABLE');
    const s = await fetch(`http://${edge.base}/groups/g/events`);
    assert.equal(s.status, 502);
    assert.equal((await s.json()).error.code, 'UPSTREAM_UNAVAILABLE');
    await waitFor(() => edge.hub.upstream('g') === undefined, 2000, 'no upstream left behind');
    const h = await fetch(`http://${edge.base}/healthz`);
    const health = await h.json();
    assert.equal(h.status, 503);
    assert.equal(health.upstream.reachable, false);
  } finally {
    await edge.close();
    await proxy.close();
    await sidecar.stop();
  }
});

Deno.test('the sidecar token goes to the sidecar as a Bearer Authorization header', async () => {
  const sidecar = await startSidecar();
  const proxy = new CutProxy(sidecar.http);
  const edge = startEdge(proxy.address, { token: 's3cret-token' });
  let c: Client | undefined;
  try {
    c = await SseClient.open(`http://${edge.base}/groups/auth/events`);
    await publish(edge.base, 'auth', ['x']);
    await c.waitForMessages(1);
    const requests = proxy.sent.split(/\r\n\r\n/).filter((r) => /^(GET|POST) /m.test(r));
    assert.ok(requests.length >= 3, `${requests.length} requests`);
    for (const r of requests) assert.match(r, /^authorization: Bearer s3cret-token$/im);
  } finally {
    await c?.close();
    await edge.close();
    await proxy.close();
    await sidecar.stop();
  }
});

Deno.test('an event kind the edge does not know (the sidecar time event) reaches its subscribers as it came, just before the messages it preceded', async () => {
  const sidecar = await startSidecar();
  const edge = startEdge(sidecar.http);
  let a: Client | undefined;
  let direct: Client | undefined;
  try {
    a = await SseClient.open(`http://${edge.base}/groups/timed/events`);
    direct = await SseClient.open(`http://${sidecar.http}/groups/timed/events`);
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      ids.push(...(await publish(sidecar.http, 'timed', [text])));
      await a.waitForMessages(ids.length);
      await direct.waitForMessages(ids.length);
    }
    await sleep(30);
    const shape = (c: Client) =>
      c.events
        .filter((e) => e.event === 'time' || e.event === 'message')
        .map((e) => [e.event, e.event === 'time' ? e.data : e.id]);
    const times = shape(direct).filter((e) => e[0] === 'time');
    assert.equal(times.length, 3);
    assert.deepEqual(shape(a), shape(direct));
  } finally {
    await a?.close();
    await direct?.close();
    await edge.close();
    await sidecar.stop();
  }
});
