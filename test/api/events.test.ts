import { request } from 'node:http';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baseUrl, post } from '../helpers/http.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort, sleep, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const rig = new SidecarRig(test, { fresh: true });

async function publish(group: string, n: number, prefix = 'm'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(...(await post(rig.sc, group, `${prefix}${i}`)).json.ids);
  return ids;
}

test('an SSE response has the streaming headers and a retry hint', async () => {
  const c = await rig.sse('h');
  assert.is(c.response.status, 200);
  assert.match(c.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.is(c.response.headers.get('cache-control'), 'no-cache');
  assert.is(c.response.headers.get('x-accel-buffering'), 'no');
});

test('a live stream starts with its position (an id with no data), so a reconnect loses nothing', async () => {
  const ids = await publish('pos', 2);
  const res = await fetch(`${baseUrl(rig.sc)}/groups/pos/events`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes(`id: ${ids[1]}\n\n`))
    text += new TextDecoder().decode((await reader.read()).value);
  assert.not.match(text, /data:/, 'no message was replayed');
  await reader.cancel();
  await publish('pos', 1, 'missed');
  const again = await rig.sse('pos', '', { 'Last-Event-ID': ids[1] });
  assert.equal(
    (await again.waitForMessages(1)).map((e) => e.data),
    ['missed0'],
  );
});

test('Last-Event-ID resumes exactly after that message', async () => {
  const ids = await publish('replay', 5);
  const c = await rig.sse('replay', '', { 'Last-Event-ID': ids[1] });
  const got = await c.waitForMessages(3);
  assert.equal(
    got.map((e) => e.data),
    ['m2', 'm3', 'm4'],
  );
  assert.equal(
    got.map((e) => e.id),
    ids.slice(2),
  );
  await publish('replay', 1, 'live');
  assert.is((await c.waitForMessages(4))[3].data, 'live0', 'then live');
  assert.is(c.events.filter((e) => e.event === 'gap').length, 0, 'no gap when nothing was lost');
});

test('?lastEventId= works for a first connection; the header wins over it', async () => {
  const ids = await publish('q', 4);
  const a = await rig.sse('q', `?lastEventId=${ids[2]}`);
  assert.equal(
    (await a.waitForMessages(1)).map((e) => e.data),
    ['m3'],
  );
  const b = await rig.sse('q', `?lastEventId=${ids[0]}`, { 'Last-Event-ID': ids[2] });
  await b.waitForMessages(1);
  await sleep(50);
  assert.equal(b.data(), ['m3']);
});

test('from=earliest replays everything held', async () => {
  await publish('e', 3);
  const c = await rig.sse('e', '?from=earliest');
  assert.equal(
    (await c.waitForMessages(3)).map((e) => e.data),
    ['m0', 'm1', 'm2'],
  );
});

test('an evicted id gets a gap event first, then everything still held', async () => {
  await rig.restart({ historyMessages: 3 });
  const ids = await publish('ev', 6);
  const c = await rig.sse('ev', '', { 'Last-Event-ID': ids[0] });
  const gap = await c.waitForEvent('gap');
  assert.equal(JSON.parse(gap.data), { requested: ids[0], resumedFrom: ids[3], reason: 'evicted' });
  assert.equal(
    (await c.waitForMessages(3)).map((e) => e.data),
    ['m3', 'm4', 'm5'],
  );
  assert.is(c.events[0].event, 'gap', 'the gap comes before the messages');
});

test('an id at the edge of the window is not a gap', async () => {
  await rig.restart({ historyMessages: 3 });
  const ids = await publish('edge', 6);
  const c = await rig.sse('edge', '', { 'Last-Event-ID': ids[2] });
  assert.equal(
    (await c.waitForMessages(3)).map((e) => e.data),
    ['m3', 'm4', 'm5'],
  );
  assert.is(c.events.filter((e) => e.event === 'gap').length, 0);
});

test('an unknown id gets a gap event, then everything held', async () => {
  const ids = await publish('unk', 2);
  for (const bad of ['garbage', '1-999', `${ids[0].split('-')[0]}-999`]) {
    const c = await rig.sse('unk', '', { 'Last-Event-ID': bad });
    const gap = JSON.parse((await c.waitForEvent('gap')).data);
    assert.is(gap.requested, bad);
    assert.is(gap.resumedFrom, ids[0]);
    assert.ok(['unknown', 'reset'].includes(gap.reason), gap.reason);
    assert.equal(
      (await c.waitForMessages(2)).map((e) => e.data),
      ['m0', 'm1'],
    );
    c.close();
    await waitFor(() => rig.sc.hub.findGroup('unk')?.counts.sse === 0, 2000, 'unsubscribed');
  }
});

test('a heartbeat comment arrives on an idle stream', async () => {
  await rig.restart({ heartbeatMs: 100 });
  const c = await rig.sse('hb');
  await waitFor(() => c.comments.length >= 2, 2000, 'two heartbeats');
});

test('a slow SSE consumer is cut and counted while a fast one gets everything', async () => {
  await rig.restart({ sseQueueBytes: 1024 * 1024 });
  const cutSse = { transport: 'sse' };
  const before = await rig.metric('groupcast_slow_consumer_disconnects_total', cutSse);
  const fast = await rig.sse('slow');
  // A subscriber that never reads: a raw request whose socket is paused.
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const req = request({ host, port, path: '/groups/slow/events' });
  req.end();
  const res = await new Promise<import('node:http').IncomingMessage>((r) => req.on('response', r));
  res.pause();
  (res.socket as import('node:net').Socket).pause();
  await waitFor(() => rig.sc.hub.findGroup('slow')?.counts.sse === 2);
  const sender = await TcpPeer.open(rig.sc.addresses.tcp as string, 'slow');
  rig.track(sender);
  await waitFor(() => rig.sc.hub.findGroup('slow')?.counts.tcp === 1);
  const line = `${'s'.repeat(1000)}\n`;
  const total = 20_000;
  // Paced so the fast reader, in this same process, keeps up; the slow one never reads.
  for (let i = 0; i < total; i += 100) {
    sender.write(line.repeat(100));
    await waitFor(() => fast.messages().length >= i - 500, 10_000, 'fast reader');
  }
  await fast.waitForMessages(total, 20_000);
  assert.is(fast.messages().length, total);
  assert.ok(fast.messages().every((e) => e.data.length === 1000));
  await waitFor(() => rig.sc.hub.stats.slowConsumers.sse === 1, 5000, 'slow consumer counted');
  await waitFor(
    () => rig.sc.hub.findGroup('slow')?.counts.sse === 1,
    5000,
    'slow subscriber removed',
  );
  res.destroy();
  assert.is(await rig.metric('groupcast_slow_consumer_disconnects_total', cutSse), before + 1);
  assert.is(await rig.metric('groupcast_slow_consumer_disconnects_total', { transport: 'tcp' }), 0);
});

test('a replay larger than the stream queue is sent whole; the limit applies to what follows', async () => {
  await rig.restart({ sseQueueBytes: 64 * 1024, historyBytes: 4 * 1024 * 1024 });
  const line = `${'r'.repeat(999)}\n`;
  const sender = await rig.tcp('big-replay');
  sender.write(line.repeat(1000)); // about 1 MB of history, 16 times the queue
  await waitFor(() => rig.sc.hub.findGroup('big-replay')?.seq === 1000, 5000, 'history');
  const c = await rig.sse('big-replay', '?from=earliest');
  await c.waitForMessages(1000, 10_000);
  sender.write('live\n');
  await waitFor(() => c.data().at(-1) === 'live', 5000, 'the live message');
  assert.is(rig.sc.hub.stats.slowConsumers.sse, 0);
  assert.is(await rig.metric('groupcast_slow_consumer_disconnects_total', { transport: 'sse' }), 0);
});

test('1,000 concurrent subscribers of one group all receive a message', async () => {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const n = 1000;
  const got: string[] = new Array(n).fill('');
  const reqs = Array.from({ length: n }, (_, i) => {
    const req = request({ host, port, path: '/groups/crowd/events', agent: false });
    req.on('response', (res) => res.on('data', (d) => (got[i] += d)));
    req.on('error', () => {});
    req.end();
    return req;
  });
  await waitFor(() => rig.sc.hub.findGroup('crowd')?.counts.sse === n, 15_000, `${n} subscribers`);
  const r = await post(rig.sc, 'crowd', 'to everyone');
  assert.is(r.json.recipients, n);
  await waitFor(
    () => got.every((g) => g.includes('data: to everyone\n')),
    10_000,
    'every subscriber',
  );
  for (const req of reqs) req.destroy();
  await waitFor(
    () =>
      rig.sc.hub.findGroup('crowd') === undefined ||
      rig.sc.hub.findGroup('crowd')?.counts.sse === 0,
    5000,
  );
});

test('10,000 connect/disconnect cycles leave no members and no growth', async () => {
  v8.setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const cycle = () =>
    new Promise<void>((resolve) => {
      const req = request({ host, port, path: '/groups/churn/events', agent: false });
      req.on('response', (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end();
    });
  const run = async (cycles: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next++ < cycles) await cycle();
      }),
    );
    await waitFor(() => rig.sc.hub.connections.sse === 0, 5000, 'streams to close');
  };
  await run(1000);
  gc();
  const before = process.memoryUsage().heapUsed;
  await run(10_000);
  await sleep(100);
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  assert.is(rig.sc.hub.connections.sse, 0);
  assert.is(rig.sc.hub.findGroup('churn'), undefined, 'the empty group is gone');
  assert.ok(growth < 8 * 1024 * 1024, `heap grew ${growth} bytes`);
});

test('CORS: a listed origin is allowed (with preflight); others get no CORS headers', async () => {
  await rig.restart({ corsOrigins: ['https://dash.example'] });
  const url = `${baseUrl(rig.sc)}/groups/c/messages`;
  const pre = await fetch(url, {
    method: 'OPTIONS',
    headers: { Origin: 'https://dash.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.is(pre.status, 204);
  assert.is(pre.headers.get('access-control-allow-origin'), 'https://dash.example');
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  const ok = await fetch(url, {
    method: 'POST',
    body: 'x',
    headers: { Origin: 'https://dash.example' },
  });
  assert.is(ok.headers.get('access-control-allow-origin'), 'https://dash.example');
  const other = await fetch(url, {
    method: 'POST',
    body: 'x',
    headers: { Origin: 'https://evil.example' },
  });
  assert.is(other.headers.get('access-control-allow-origin'), null);
});

test('CORS: an SSE stream for a listed origin carries the CORS header the middleware set', async () => {
  await rig.restart({ corsOrigins: ['https://dash.example'] });
  const ac = new AbortController();
  const res = await fetch(`${baseUrl(rig.sc)}/groups/c/events`, {
    headers: { Origin: 'https://dash.example' },
    signal: ac.signal,
  });
  try {
    assert.is(res.status, 200);
    assert.is(res.headers.get('access-control-allow-origin'), 'https://dash.example');
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.is(res.headers.get('x-hono-already-sent'), null, 'the adapter marker stays inside');
  } finally {
    ac.abort();
  }
});

test('by default no origin gets CORS headers', async () => {
  const res = await fetch(`${baseUrl(rig.sc)}/groups`, {
    headers: { Origin: 'https://dash.example' },
  });
  assert.is(res.headers.get('access-control-allow-origin'), null);
});

test.run();
