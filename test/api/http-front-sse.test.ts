/**
 * SSE subscriptions on the raw HTTP front (api/front-sse-stream.ts, api/subscribe.ts): the GETs
 * it takes must be answered as node:http answers them with the front off (head, retry hint,
 * replay, gap, live events, refusals), everything else must reach node:http as it came, a reader
 * that stops reading is cut at its limit while the others get everything, shutdown ends the
 * streams, and no head may crash the process. node:http's `http.server.request.start`
 * diagnostics channel counts the requests node:http itself handled: that tells which side answered.
 */
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HttpClient } from '../../shared/client/http.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import {
  answers,
  countNodeRequests,
  exchange,
  hs256,
  shape,
  TEST_JWT_SECRET,
} from '../helpers/raw-http.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort, sleep, waitFor, withFrontOff } from '../helpers/sidecar.ts';

const rig = new SidecarRig(test, { fresh: true });

const SECRET = TEST_JWT_SECRET;
/** Requests node:http itself handled (the rest were the front's). */
const node = countNodeRequests(test);

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:7480\r\nAccept: text/event-stream\r\n${extra}\r\n`;
}

/** Published through the hub: no HTTP request of its own to count. */
async function publish(sc: Sidecar, group: string, body: string): Promise<string> {
  const r = await sc.hub.publish(group, [new TextEncoder().encode(body)], {
    transport: 'http',
    remote: '127.0.0.1:1',
  });
  return r.ids[0];
}

/**
 * The same steps on a sidecar: three messages published, then the request `make` builds from
 * their ids, then one live message once the hub counts the stream (if it opened).
 */
async function scenario(
  sc: Sidecar,
  group: string,
  make: (ids: string[]) => string,
): Promise<ReturnType<typeof shape>> {
  // The stream of the case before is gone (its socket was closed as it ended).
  await waitFor(() => sc.hub.connections.sse === 0, 2000, 'no stream left');
  const ids: string[] = [];
  for (const m of ['one', 'two', 'three']) ids.push(await publish(sc, group, m));
  let sent = false;
  const got = await exchange(sc.addresses.http as string, [make(ids)], {
    idleMs: 400,
    until: (raw) => {
      const text = raw.toString('latin1');
      if (!sent && text.startsWith('HTTP/1.1 200')) {
        sent = true;
        void waitFor(() => sc.hub.connections.sse === 1, 2000, 'the stream').then(
          () => publish(sc, group, 'live'),
          () => {}, // The wait for `live` then times out, naming the case.
        );
      }
      return text.includes('data: live\n\n\r\n');
    },
  });
  return shape(got);
}

test('SSE GETs are answered by the front exactly as node:http answers them with the front off', async () => {
  const cases: [string, (ids: string[]) => string, boolean][] = [
    ['live', () => get('/groups/g1/events'), true],
    ['earliest', () => get('/groups/g2/events?from=earliest'), true],
    ['from=live', () => get('/groups/g3/events?from=live'), true],
    ['Last-Event-ID', (ids) => get('/groups/g4/events', `Last-Event-ID: ${ids[0]}\r\n`), true],
    ['?lastEventId', (ids) => get(`/groups/g5/events?lastEventId=${ids[1]}`), true],
    ['unknown id: a gap', () => get('/groups/g6/events', 'Last-Event-ID: 1-1\r\n'), true],
    ['empty id', () => get('/groups/g7/events?from=earliest', 'Last-Event-ID:\r\n'), true],
    ['presence', () => get('/groups/g8/events?presence'), true],
    ['presence=1', () => get('/groups/g9/events?presence=1&from=earliest'), true],
    ['keep-alive', () => get('/groups/g10/events', 'Connection: keep-alive\r\n'), true],
    ['from=bad', () => get('/groups/g11/events?from=bad'), false],
    ['presence=maybe', () => get('/groups/g12/events?presence=maybe'), false],
    ['invalid group', () => get(`/groups/${'x'.repeat(300)}/events`), false],
    ['group with :', () => get('/groups/a:b/events'), true],
    // Left to node:http by the head reader.
    ['escaped group', () => get('/groups/a%20b/events'), false],
    ['unknown param', () => get('/groups/g13/events?x=1'), false],
    ['twice a param', () => get('/groups/g14/events?from=live&from=earliest'), false],
    ['escaped value', () => get('/groups/g15/events?from=%65arliest'), false],
    ['Connection: close', () => get('/groups/g16/events', 'Connection: close\r\n'), false],
    [
      'two Last-Event-IDs',
      () => get('/groups/g17/events', 'Last-Event-ID: a\r\nLast-Event-ID: b\r\n'),
      false,
    ],
    ['HTTP/1.0', () => get('/groups/g18/events').replace('HTTP/1.1', 'HTTP/1.0'), false],
    ['HEAD', () => get('/groups/g19/events').replace('GET', 'HEAD'), false],
    ['a body', () => get('/groups/g20/events', 'Content-Length: 0\r\n'), false],
    ['upper-case Host', () => get('/groups/g21/events').replace('127.0.0.1', 'LOCALHOST'), false],
    ['trailing slash', () => get('/groups/g22/events/'), false],
  ];
  await withFrontOff({}, async (off) => {
    for (const [what, make, byFront] of cases) {
      const group = /\/groups\/([^/?]+)/.exec(make(['x']))?.[1] as string;
      const plainGroup = /^[\w:]+$/.test(group) && group.length < 100 ? group : 'plain';
      const before = node.count;
      const front = await scenario(rig.sc, plainGroup, make);
      const took = node.count - before;
      const plain = await scenario(off, plainGroup, make);
      assert.equal(front, plain, what);
      assert.is(
        took,
        byFront ? 0 : 1,
        `${what}: answered by ${byFront ? 'the front' : 'node:http'}`,
      );
    }
  });
  assert.is(rig.sc.hub.connections.sse, 0, 'every stream ended with its connection');
});

test('with auth on, token holders are subscribed by the front; refusals are node:http answers', async () => {
  const overrides = { jwtSecret: SECRET };
  await rig.restart(overrides);
  const good = await hs256({ groupcast: { publish: ['a'], subscribe: ['a'] } });
  const bearer = (t: string) => `Authorization: Bearer ${t}\r\n`;
  const cases: [string, string, number, boolean][] = [
    [get('/groups/a/events', bearer(good)), 'Bearer, granted', 200, true],
    [get(`/groups/a/events?access_token=${good}`), '?access_token', 200, true],
    [get('/groups/b/events', bearer(good)), 'not granted', 403, false],
    [get('/groups/a/events', bearer('not.a.jwt')), 'bad token', 401, false],
    [get('/groups/a/events'), 'no token', 401, false],
    [get(`/groups/a/events?access_token=${good}`, 'Cookie: x=1\r\n'), 'a cookie', 200, false],
  ];
  await withFrontOff(overrides, async (off) => {
    for (const [text, what, status, byFront] of cases) {
      const before = node.count;
      const front = shape(await exchange(rig.sc.addresses.http as string, [text]));
      const took = node.count - before;
      const plain = shape(await exchange(off.addresses.http as string, [text]));
      assert.equal(front, plain, what);
      assert.is(front.answers[0].status, status, what);
      // A refusal is tried by the front first, then answered by node:http.
      assert.is(took, byFront ? 0 : 1, `${what}: who answered`);
    }
  });
});

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], { timeout: 10_000 }, (err, stdout, stderr) =>
      // --max-time ends the stream: exit code 28 is the expected end.
      err && err.code !== 28 ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

test('curl -N and the repo client read streams the front serves', async () => {
  await publish(rig.sc, 'cli', 'before');
  const before = node.count;
  const url = `http://${rig.sc.addresses.http}/groups/cli/events?from=earliest`;
  const out = curl(['-N', '--max-time', '1.5', url]);
  const client = new HttpClient({ url: `http://${rig.sc.addresses.http}` });
  const sub = client.subscribe('cli', { from: 'earliest' });
  const texts: string[] = [];
  const reading = (async () => {
    for await (const m of sub) {
      if (m.type === 'message') texts.push(m.text as string);
      if (texts.length === 2) break;
    }
  })();
  await waitFor(() => rig.count('cli', 'sse') === 2, 2000, 'two subscribers');
  await publish(rig.sc, 'cli', 'after');
  await reading;
  assert.equal(texts, ['before', 'after']);
  const text = await out;
  assert.match(text, /^retry: 2000\n\n/);
  assert.match(text, /data: before\n\n/);
  assert.match(text, /data: after\n\n/);
  assert.is(node.count, before, 'both served by the front');
  await waitFor(() => rig.count('cli', 'sse') === 0, 2000, 'both gone');
});

/** An SSE stream on a raw socket that reads only when told. */
function rawStream(sc: Sidecar, path: string): { socket: Socket; got: () => string } {
  const { host, port } = hostPort(sc.addresses.http as string);
  const socket = connect({ host, port });
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  socket.write(get(path));
  return { socket, got: () => text };
}

test('a reader that stops reading is cut at its limit; one that reads gets every message', async () => {
  await rig.restart({ sseQueueBytes: 64 * 1024 });
  const slow = rawStream(rig.sc, '/groups/slow/events');
  await waitFor(() => slow.got().includes('retry'), 2000, 'the head');
  const fast = await rig.sse('slow');
  slow.socket.pause();
  const before = node.count;
  // More than the kernel's socket buffers hold for a paused reader, many times the limit.
  const body = 'x'.repeat(16 * 1024);
  const n = 1500;
  for (let i = 0; i < n; i++) {
    await publish(rig.sc, 'slow', `${i} ${body}`);
    // Paced so the reader, in this same process, keeps up; the slow one never reads.
    if (i % 50 === 49) await waitFor(() => fast.messages().length >= i - 100, 10_000, 'reader');
  }
  await waitFor(() => rig.count('slow', 'sse') === 1, 5000, 'the slow one cut');
  assert.is(rig.sc.hub.stats.slowConsumers.sse, 1, 'cut as a slow consumer');
  await fast.waitForMessages(n, 10_000);
  assert.equal(
    fast.messages().map((e) => e.data.slice(0, e.data.indexOf(' '))),
    Array.from({ length: n }, (_, i) => String(i)),
  );
  const closed = new Promise((r) => slow.socket.once('close', r));
  slow.socket.resume();
  await closed;
  assert.ok(slow.got().length < n * body.length, 'cut before it got everything');
  assert.is(node.count, before, 'the front served the slow stream');
});

test('shutdown ends front streams with event: close and the last chunk, then closes them', async () => {
  await rig.restart({ shutdownGraceMs: 5000 });
  const s = rawStream(rig.sc, '/groups/down/events');
  await waitFor(() => rig.count('down', 'sse') === 1, 2000, 'the stream');
  const closed = new Promise((r) => s.socket.once('close', r));
  const started = Date.now();
  await rig.sc.close();
  await closed;
  assert.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
  assert.match(s.got(), /event: close\ndata: \{"code":"SHUTTING_DOWN"[^\n]*\n\n\r\n0\r\n\r\n$/);
});

test('shutdown closes a front stream whose client does not read after the grace', async () => {
  await rig.restart({ shutdownGraceMs: 300, sseQueueBytes: 32 << 20 });
  const s = rawStream(rig.sc, '/groups/stuck/events');
  await waitFor(() => rig.count('stuck', 'sse') === 1, 2000, 'the stream');
  s.socket.pause();
  // More than the kernel's socket buffers hold: the last chunk cannot go out.
  const body = 'y'.repeat(64 * 1024);
  for (let i = 0; i < 200; i++) await publish(rig.sc, 'stuck', body);
  // The turn's chunk is written (to the socket's buffer: the kernel's are full) before the close.
  await sleep(200);
  const closed = new Promise((r) => s.socket.once('close', r));
  const started = Date.now();
  const closing = rig.sc.close();
  await sleep(800);
  // A paused socket sees no close: it reads what the kernel still holds, then the end.
  s.socket.resume();
  await Promise.race([closed, sleep(3000)]);
  assert.ok(s.socket.destroyed, 'closed');
  assert.not.match(s.got(), /\r\n0\r\n\r\n$/, 'cut, not ended');
  await Promise.race([closing, sleep(3000)]);
  assert.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`);
});

test('open front streams count in the hub, /metrics and /healthz; a client that goes is forgotten', async () => {
  const streams = [0, 1, 2].map(() => rawStream(rig.sc, '/groups/m/events'));
  await waitFor(() => rig.count('m', 'sse') === 3, 2000, 'three streams');
  assert.is(await rig.metric('groupcast_connections', { transport: 'sse' }), 3);
  const health = (await (await fetch(`http://${rig.sc.addresses.http}/healthz`)).json()) as {
    connections: { sse: number };
  };
  assert.is(health.connections.sse, 3);
  streams[0].socket.destroy();
  streams[1].socket.end();
  await waitFor(() => rig.sc.hub.connections.sse === 1, 2000, 'two gone');
  streams[2].socket.write('more bytes\r\n');
  await waitFor(() => rig.sc.hub.connections.sse === 0, 2000, 'a stream given bytes is closed');
});

test('hostile GET heads: node:http answers them, the front stays strict, the process lives', async () => {
  const start = 'GET /groups/h/events';
  const cases: string[] = [
    `${start} HTTP/1.1\nHost: x\n\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`,
    `${start} HTTP/1.1\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nX\u00e9: 1\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nLast-Event-ID: \u0001\r\n\r\n`,
    `${start}?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `${start}?from=earliest#x HTTP/1.1\r\nHost: x\r\n\r\n`,
    `${start}?lastEventId=a+b HTTP/1.1\r\nHost: x\r\n\r\n`,
    `${start}?lastEventId=a=b HTTP/1.1\r\nHost: x\r\n\r\n`,
    `${start}?& HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /groups/../events HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /groups/./events HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /groups/%2e/events HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET  /groups/h/events HTTP/1.1\r\nHost: x\r\n\r\n`,
    `get /groups/h/events HTTP/1.1\r\nHost: x\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x:80\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: 999.1.1.1:80\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n`,
    `${start} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n`,
  ];
  await withFrontOff({}, async (off) => {
    for (const text of cases) {
      const parts = [Buffer.from(text, 'latin1')];
      const front = shape(await exchange(rig.sc.addresses.http as string, parts));
      const plain = shape(await exchange(off.addresses.http as string, parts));
      assert.equal(front, plain, JSON.stringify(text.slice(0, 80)));
    }
    // A head followed by more bytes in the same read: node:http gets it all.
    const pipelined = [`${get('/groups/h/events')}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`];
    const before = node.count;
    const front = shape(await exchange(rig.sc.addresses.http as string, pipelined));
    assert.is(node.count - before, 2, 'node:http took the stream and the request after it');
    const plain = shape(await exchange(off.addresses.http as string, pipelined));
    assert.equal(front, plain, 'pipelined');
  });
  const health = await exchange(rig.sc.addresses.http as string, [
    'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  ]);
  assert.is(answers(health.raw)[0].status, 200);
  await sleep(50);
  assert.is(rig.sc.hub.connections.sse, 0);
});

test.run();
