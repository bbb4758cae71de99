/**
 * The raw HTTP/1.1 front (api/node-http-front.ts, api/http-head.ts): the keep-alive publish POSTs
 * it takes must be answered exactly as node:http answers them with the front off, everything
 * else must reach node:http intact (mid-connection too), and no head, however hostile, may crash
 * the process. node:http's `http.server.request.start` diagnostics channel counts the requests
 * node:http itself handled: that tells which side answered.
 */
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveSidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import {
  answers,
  countNodeRequests,
  type ExchangeOptions,
  exchange,
  hs256,
  shape,
  TEST_JWT_SECRET,
} from '../helpers/raw-http.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort, sleep, waitFor, withFrontOff } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const rig = new SidecarRig(test, { fresh: true });

const SECRET = TEST_JWT_SECRET;
/** Requests node:http itself handled (the rest were the front's). */
const node = countNodeRequests(test);

function post(group: string, body: string, extra = '', type = 'text/plain'): string {
  return `POST /groups/${group}/messages HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** Writes `text` and the end on a new connection; resolves with all that came back once it closed. */
async function sendAndEnd(address: string, text: string): Promise<Buffer> {
  const { host, port } = hostPort(address);
  const socket = connect({ host, port, noDelay: true });
  socket.on('error', () => {});
  let raw = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    raw = Buffer.concat([raw, d]);
  });
  const closed = new Promise((r) => socket.once('close', r));
  await new Promise((r) => socket.once('connect', r));
  socket.end(text);
  await closed;
  return raw;
}

/** Sends `parts` to the front and to node:http; asserts the same answers; returns the front's. */
async function same(
  off: Sidecar,
  parts: (string | Buffer)[],
  what: string,
  options: ExchangeOptions = {},
): Promise<ReturnType<typeof shape>> {
  const front = shape(await exchange(rig.sc.addresses.http as string, parts, options));
  const plain = shape(await exchange(off.addresses.http as string, parts, options));
  assert.equal(front, plain, what);
  return front;
}

/**
 * Writes `parts` on one connection; once a stream's answer opens and the hub counts it, `member`
 * sends `line` to the group. Resolves with the answers once the stream carries it.
 */
async function untilStreamed(
  parts: string[],
  group: string,
  member: TcpPeer,
  line: string,
): Promise<ReturnType<typeof answers>> {
  let published = false;
  const got = await exchange(rig.sc.addresses.http as string, parts, {
    idleMs: 3000,
    until: (raw) => {
      const text = raw.toString('latin1');
      if (!published && text.includes('text/event-stream')) {
        published = true;
        void waitFor(() => rig.count(group, 'sse') === 1, 2000, 'the stream').then(() =>
          member.write(`${line}\n`),
        );
      }
      return text.includes(`data: ${line}`);
    },
  });
  return answers(got.raw);
}

test('fast-path POSTs are answered by the front exactly as node:http answers them with the front off', async () => {
  const overrides = { maxBatchMessages: 2 };
  await rig.restart(overrides);
  const t = await rig.tcp('same');
  const cases: [string, string][] = [
    [post('same', 'hello'), 'text'],
    [post('same', ''), 'empty'],
    [post('same', 'two\nlines'), 'two lines'],
    [post('same', '"a"\n"b"\n', '', 'application/x-ndjson'), 'ndjson'],
    [post('same', '"a"\n"b"\n"c"\n', '', 'application/x-ndjson'), 'too many'],
    [post('same', '{"a":\n', '', 'application/x-ndjson'), 'bad ndjson'],
    [post('same', 'bye', 'Connection: close\r\n'), 'Connection: close'],
    [post('same', 'ka', 'Connection: keep-alive\r\n'), 'Connection: keep-alive'],
    [post('no%20pe', 'x'), 'an escaped group (node:http)'],
  ];
  await withFrontOff(overrides, async (off) => {
    // A member on each side: the answers count it.
    const other = await TcpPeer.open(off.addresses.tcp as string, 'same');
    await waitFor(() => off.hub.findGroup('same')?.counts.tcp === 1, 2000, 'the member');
    for (const [text, what] of cases) {
      const before = node.count;
      const front = shape(await exchange(rig.sc.addresses.http as string, [text]));
      const took = node.count - before;
      const plain = shape(await exchange(off.addresses.http as string, [text]));
      assert.equal(front, plain, what);
      if (!what.includes('node:http')) assert.is(took, 0, `${what}: answered by the front`);
      assert.is(node.count - before, took + 1, `${what}: node:http with the front off`);
    }
    other.close();
  });
  const tooMany = shape(await exchange(rig.sc.addresses.http as string, [cases[4][0]]));
  assert.is(tooMany.answers[0].status, 413);
  assert.ok(tooMany.closed, 'a refused batch closes the connection');
  // A text message with a newline cannot go out line-framed: TCP members do not get it.
  await t.waitForText('hello\n"a"\n"b"\nbye\nka\n');
});

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

test('curl publishes three messages on one kept-alive connection through the front', async () => {
  const t = await rig.tcp('c');
  const url = `http://${rig.sc.addresses.http}/groups/c/messages`;
  const each = (data: string) => [
    '--data-binary',
    data,
    '-H',
    'Content-Type: text/plain',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{num_connects}\\n',
    url,
  ];
  const before = node.count;
  const out = await curl([...each('one'), '--next', ...each('two'), '--next', ...each('three')]);
  assert.is(out, '202 1\n202 0\n202 0\n', 'one connection, three 202s');
  assert.is(node.count, before, 'all three answered by the front');
  await t.waitForText('one\ntwo\nthree\n');
});

test('a connection hands over to node:http mid-way: POSTs, then GET /healthz and an SSE stream', async () => {
  const t = await rig.tcp('mid');
  const sse = 'GET /groups/mid/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n';
  const healthz = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  // All in one write: node:http must get the bytes the front read past its last POST.
  const parts = [post('mid', 'first') + post('mid', 'second') + healthz + sse];
  const all = await untilStreamed(parts, 'mid', t, 'to-sse');
  assert.equal(
    all.map((a) => a.status),
    [202, 202, 200, 200],
  );
  assert.match(all[3].headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.match(all[3].body, /data: to-sse/);
  await t.waitForText('first\nsecond\n');
  assert.is(t.text, 'first\nsecond\n');
});

test("a GET node:http answers is lent to it: the connection comes back, so the POST and SSE stream after it are the front's", async () => {
  const t = await rig.tcp('lend');
  const before = node.urls.length;
  // The connections node:http saw the lent requests on.
  const seenOn: unknown[] = [];
  const onRequest = (message: unknown) =>
    seenOn.push((message as { request: { socket: unknown } }).request.socket);
  subscribe('http.server.request.start', onRequest);
  const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
  // All in one write: what follows a lent request waits for its answer, in order.
  const parts = [
    get('/healthz') +
      get('/groups/lend/messages?limit=1') +
      post('lend', 'via-front') +
      get('/groups/lend') +
      get('/groups/lend/events'),
  ];
  const all = await untilStreamed(parts, 'lend', t, 'to-sse');
  assert.equal(
    all.map((a) => a.status),
    [200, 200, 202, 200, 200],
  );
  assert.match(all[4].headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.match(all[4].body, /data: to-sse/);
  assert.equal(
    node.urls.slice(before),
    ['/healthz', '/groups/lend/messages?limit=1', '/groups/lend'],
    'node:http answered only the lent requests',
  );
  unsubscribe('http.server.request.start', onRequest);
  assert.is(seenOn.length, 3);
  assert.ok(
    seenOn.every((s) => s === seenOn[0]),
    'one connection in node:http for all the lent requests',
  );
  await t.waitForText('via-front\n');
});

test('lent requests get the answers node:http gives with the front off, odd ones included', async () => {
  const cases: [string, string][] = [
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\n\r\n', 'an unknown group'],
    ['GET /nothing/here?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n', 'an unknown path, a bad escape'],
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'close'],
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab', 'a body'],
    ['GET /groups/none HTTP/1.1\r\n\r\n', 'no Host'],
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', 'two Hosts'],
    ['GET /groups/none HTTP/1.1\nHost: x\n\n', 'bare LF'],
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', 'obs-fold'],
    ['GET /groups/none HTTP/1.0\r\nHost: x\r\n\r\n', 'HTTP/1.0'],
    ['GET http://x/groups/none HTTP/1.1\r\nHost: x\r\n\r\n', 'absolute form'],
    ['GET /groups/none HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n', 'Upgrade'],
    ['OPTIONS /groups/none HTTP/1.1\r\nHost: x\r\n\r\n', 'OPTIONS'],
  ];
  await withFrontOff({}, async (off) => {
    for (const [text, what] of cases) await same(off, [Buffer.from(text, 'latin1')], what);
    // Two lent requests, then a POST the front takes, on one connection.
    const two = 'GET /groups/none HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2) + post('none', 'x');
    const front = await same(off, [two], 'two lent, then a POST');
    assert.equal(
      front.answers.map((a) => a.status),
      [404, 404, 202],
    );
    // HEAD: a head with no body (the answer parser would look for one), then a POST.
    const head = `HEAD /groups/none HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n${post('none', 'y')}`;
    const undated = async (address: string) =>
      (await exchange(address, [head])).raw
        .toString('latin1')
        .replace(/^Date: .*\r\n/gm, '')
        .replace(/"ids":\["[^"]*"\]/, '"ids":["id"]');
    const lent = await undated(rig.sc.addresses.http as string);
    assert.is(lent, await undated(off.addresses.http as string), 'HEAD');
    assert.match(
      lent,
      /^HTTP\/1\.1 200 OK(\r\n[^\r]+)*\r\n\r\nHTTP\/1\.1 202 /,
      'no body after the HEAD answer',
    );
  });
});

test('a client that half-closes after a lent GET gets its answer, then the connection ends', async () => {
  const raw = await sendAndEnd(
    rig.sc.addresses.http as string,
    'GET /groups/none HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  assert.equal(
    answers(raw).map((a) => a.status),
    [404],
  );
});

test("fetch (undici) reads history and then opens the stream on the same kept-alive connection: the stream is the front's", async () => {
  const base = `http://${rig.sc.addresses.http}`;
  const t = await rig.tcp('pool');
  // Connections accepted on the HTTP port meanwhile (net's diagnostics channel).
  const httpPort = hostPort(rig.sc.addresses.http as string).port;
  const ports = new Set<number>();
  const onConnection = (message: unknown) => {
    const { socket } = message as { socket: { localPort?: number; remotePort?: number } };
    if (socket.localPort === httpPort) ports.add(socket.remotePort ?? 0);
  };
  subscribe('net.server.socket', onConnection);
  const before = node.urls.length;
  try {
    const history = await fetch(`${base}/groups/pool/messages?limit=1`);
    assert.is(history.status, 200);
    await history.arrayBuffer();
    // fetch puts a connection back in its pool just after the body's end, not at it.
    await sleep(50);
    const controller = new AbortController();
    const res = await fetch(`${base}/groups/pool/events`, { signal: controller.signal });
    assert.is(res.status, 200);
    await waitFor(() => rig.count('pool', 'sse') === 1, 2000, 'the stream');
    t.write('pooled\n');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('data: pooled')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    assert.match(text, /data: pooled/);
    assert.is(ports.size, 1, 'one connection for both');
    assert.equal(node.urls.slice(before), ['/groups/pool/messages?limit=1']);
  } finally {
    unsubscribe('net.server.socket', onConnection);
  }
});

test('a head that comes one byte per write is read whole by the front', async () => {
  const t = await rig.tcp('bytes');
  const before = node.count;
  const got = await exchange(rig.sc.addresses.http as string, [...post('bytes', 'slowly')], {
    gapMs: 1,
  });
  assert.is(answers(got.raw)[0]?.status, 202);
  assert.is(node.count, before, 'the front took it');
  await t.waitForText('slowly\n');
});

test('a client that half-closes after a whole POST still gets its answer, then the connection ends', async () => {
  // With auth on, the body is asked for only after the token is checked: the end comes first.
  // (node:http with the front off aborts such a request when its end comes before the answer.)
  await rig.restart({ jwtSecret: SECRET });
  const token = await hs256({ groupcast: { publish: ['half'] } });
  const t = await rig.tcp('half');
  const raw = await sendAndEnd(
    rig.sc.addresses.http as string,
    post('half', 'last words', `Authorization: Bearer ${token}\r\n`),
  );
  const [answer] = answers(raw);
  assert.is(answer?.status, 202);
  assert.is(answer.headers.get('connection'), 'close');
  await t.waitForText('last words\n');
});

test('a whole POST, a cut head and the end in one write: its answer, then 400, as node:http', async () => {
  // The answer waits for the end of its turn (heldAnswers); whatever the end of the
  // connection writes must come after it. (The end is read in a later turn here, so this holds
  // the order, not the flush in FrontConnection's end handler, which keeps it within one turn.)
  const t = await rig.tcp('turn-end');
  const statuses = async (address: string) => {
    const raw = await sendAndEnd(address, `${post('turn-end', 'first')}POST /groups/turn-end/mess`);
    return answers(raw).map((a) => a.status);
  };
  assert.equal(await statuses(rig.sc.addresses.http as string), [202, 400]);
  await t.waitForText('first\n');
  const plain = await withFrontOff({}, (off) => statuses(off.addresses.http as string));
  assert.equal(plain, [202, 400], 'node:http, front off');
});

test('shutdown in the turn of an answer still sends the answer, then closes', async () => {
  await rig.restart({ shutdownGraceMs: 5000 });
  const sc = rig.sc;
  const t = await rig.tcp('turn-down');
  // Shutdown begins in the answer's turn, after the answer is made and before the turn's end
  // writes it: a tick queued from the publish runs once the promise jobs that make the answer
  // are done, ahead of the turn's end (where held answers are written).
  const publish = sc.hub.publish.bind(sc.hub);
  let closing: Promise<void> | null = null;
  sc.hub.publish = ((...args: Parameters<typeof publish>) => {
    process.nextTick(() => {
      closing = sc.close();
    });
    return publish(...args);
  }) as typeof publish;
  const got = await exchange(sc.addresses.http as string, [post('turn-down', 'last')]);
  const all = answers(got.raw);
  assert.equal(
    all.map((a) => a.status),
    [202],
  );
  assert.ok(got.closed, 'the connection closed after its answer');
  assert.ok(closing, 'shutdown began in the turn');
  await closing;
  await t.waitForText('last\n');
});

test('pipelined POSTs are answered in order, a refused one among them', async () => {
  const t = await rig.tcp('pipe');
  const bodies = ['p0', 'p1', '', 'p3', 'p4'];
  const before = node.count;
  const got = await exchange(rig.sc.addresses.http as string, [
    bodies.map((b) => post('pipe', b)).join(''),
  ]);
  const all = answers(got.raw);
  assert.equal(
    all.map((a) => a.status),
    [202, 202, 400, 202, 202],
  );
  assert.is(JSON.parse(all[2].body).error.code, 'EMPTY_MESSAGE');
  assert.is(node.count, before);
  await t.waitForText('p0\np1\np3\np4\n');
});

test('hostile heads get the answers node:http gives with the front off, and the process lives', async () => {
  const body5 = 'hello';
  const start = 'POST /groups/h/messages HTTP/1.1\r\n';
  const cases: [string, string][] = [
    [`${start}Host: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n${body5}`, 'two lengths'],
    [`${start}Host: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n${body5}`, 'two lengths'],
    [
      `${start}Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      'TE and CL',
    ],
    [`${start}Host: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 'chunked'],
    [`${start}Host: x\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\n${body5}`, 'obs-fold'],
    ['POST /groups/h/messages HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello', 'bare LF everywhere'],
    [`${start}Host: x\nContent-Length: 5\r\n\r\n${body5}`, 'one bare LF'],
    [`${start}Host: x\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\n${body5}`, 'bare CR'],
    [
      `${start}Host: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 5\r\n\r\n${body5}`,
      'long head',
    ],
    [
      `${start}Host: x\r\nX-Mid: ${'a'.repeat(6_000)}\r\nContent-Length: 5\r\n\r\n${body5}`,
      'mid head',
    ],
    [`${start}Host: x\r\nContent-Length: 5x\r\n\r\n${body5}`, 'non-digit length'],
    [`${start}Host: x\r\nContent-Length: -5\r\n\r\n${body5}`, 'negative length'],
    [`${start}Host: x\r\nContent-Length: +5\r\n\r\n${body5}`, 'signed length'],
    [`${start}Host: x\r\nContent-Length: 99999999999999999999\r\n\r\n${body5}`, 'huge length'],
    [`${start}Host: x\r\nContent-Length: 005\r\n\r\n${body5}`, 'leading zeros'],
    [`${start}Host: x\r\nContent-Length:\r\n\r\n${body5}`, 'empty length'],
    [`${start}Host: x\r\nContent-Length: \t 5  \r\n\r\n${body5}`, 'length among blanks'],
    // node:http refuses a tab after the length's digits (400), though not before them.
    [`${start}Host: x\r\nContent-Length: 5\t\r\n\r\n${body5}`, 'length, then a tab'],
    [`${start}Host: x\r\nContent-Length: \t 5 \t\r\n\r\n${body5}`, 'length, blanks, a tab'],
    [
      `${start}Host: x\r\nContent-Type: text/plain\t\r\nContent-Length: 5\r\n\r\n${body5}`,
      'type, then a tab',
    ],
    [
      `${start}Host: x\r\nContent-Length: 5\r\nConnection:\t close  \r\n\r\n${body5}`,
      'close among blanks',
    ],
    // ...and does not see `close` with a tab after it: the connection stays open.
    [
      `${start}Host: x\r\nContent-Length: 5\r\nConnection: close\t\r\n\r\n${body5}`,
      'close, then a tab',
    ],
    [`${start}Host: x\r\nContent-Length: \t\r\n\r\n${body5}`, 'length of blanks only'],
    [
      `POST /groups/h/messages HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`,
      'HTTP/1.0',
    ],
    [`${start}Content-Length: 5\r\n\r\n${body5}`, 'no Host'],
    [`${start}Host: x\r\nHost: y\r\nContent-Length: 5\r\n\r\n${body5}`, 'two Hosts'],
    [`${start}Host: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n${body5}`, 'Expect'],
    [`${start}Host: x\r\nContent-Length: 5\r\nConnection: upgrade\r\n\r\n${body5}`, 'upgrade'],
    [`${start}Host: x\r\nX\u00e9: 1\r\nContent-Length: 5\r\n\r\n${body5}`, 'non-ASCII name'],
    [`${start}Host: x\r\nBad Name: 1\r\nContent-Length: 5\r\n\r\n${body5}`, 'space in a name'],
    [`${start}Host: x\r\nX-A: \u0001\r\nContent-Length: 5\r\n\r\n${body5}`, 'control in a value'],
    [`POST /groups/../messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`, '..'],
    [`POST /groups/./messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`, '.'],
    [
      `POST /groups/h/messages?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`,
      'query',
    ],
    [
      `POST  /groups/h/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`,
      'two spaces',
    ],
    [
      `post /groups/h/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n${body5}`,
      'lower case',
    ],
    [`${start}Host: x\r\n: empty\r\nContent-Length: 5\r\n\r\n${body5}`, 'empty name'],
    [
      '\r\n\r\nPOST /groups/h/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz',
      'leading blank lines',
    ],
    ['\u0000\u0001\u0002\r\n\r\n', 'binary'],
  ];
  await withFrontOff({}, async (off) => {
    for (const [text, what] of cases) await same(off, [Buffer.from(text, 'latin1')], what);
    // node:http with the front off loses the POST's answer (its parser's 400 goes out before
    // the answer is made); the front answers the POST first, then node:http gives the 400.
    const garbage = [`${start}Host: x\r\nContent-Length: 5\r\n\r\n${body5}GARBAGE\r\n\r\n`];
    const front = shape(await exchange(rig.sc.addresses.http as string, garbage));
    const plain = shape(await exchange(off.addresses.http as string, garbage));
    assert.equal(
      front.answers.map((a) => a.status),
      [202, 400],
    );
    assert.equal(front.answers[1], plain.answers.at(-1), 'the same 400');
    assert.ok(front.closed && plain.closed);
  });
  const health = await exchange(rig.sc.addresses.http as string, [
    'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  ]);
  assert.is(answers(health.raw)[0].status, 200);
});

test('a head that is too slow gets 408 and the connection is closed, as with node:http', async () => {
  const overrides = { httpHeadTimeoutMs: 300 };
  await rig.restart(overrides);
  await withFrontOff(overrides, async (off) => {
    const slow = ['POST /groups/s/messages HTTP/1.1\r\nHost: x\r\n'];
    const started = Date.now();
    const front = await same(off, slow, 'slow head', { idleMs: 3000 });
    assert.ok(Date.now() - started < 4000, 'timed out in time');
    assert.is(front.answers[0].status, 408);
    assert.ok(front.closed);
    // A slow head after a kept-alive POST: its clock starts with its first byte.
    const after = await same(off, [post('s', 'ok'), 'POST /gro'], 'slow second head', {
      idleMs: 3000,
    });
    assert.equal(
      after.answers.map((a) => a.status),
      [202, 408],
    );
  });
});

test('a kept-alive connection idle past keepAliveTimeout (5 s) is closed, as node:http closes it', async () => {
  await withFrontOff({}, async (off) => {
    const idle = async (address: string) => {
      const started = Date.now();
      const sent = await exchange(address, [post('idle', 'x')], { idleMs: 7000 });
      return { sent, ms: Date.now() - started };
    };
    const [front, plain] = await Promise.all([
      idle(rig.sc.addresses.http as string),
      idle(off.addresses.http as string),
    ]);
    assert.ok(front.sent.closed && plain.sent.closed, 'both closed by the server');
    assert.ok(front.ms > 4500 && front.ms < 6500, `front closed after ${front.ms} ms`);
    assert.ok(plain.ms > 4500 && plain.ms < 6500, `node:http closed after ${plain.ms} ms`);
  });
});

test('a body over the limit gets 413 and the connection is closed', async () => {
  const overrides = { maxMessageBytes: 100 };
  await rig.restart(overrides);
  await withFrontOff(overrides, async (off) => {
    const big = 'x'.repeat(200);
    const front = await same(off, [post('big', big)], 'over the limit');
    assert.is(front.answers[0].status, 413);
    assert.ok(front.closed);
    // Declared far past the limit, sent in part: refused from its head, never buffered.
    const huge = `POST /groups/big/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\nxx`;
    const declared = await same(off, [huge], 'declared over the limit');
    assert.is(declared.answers[0].status, 413);
    assert.ok(declared.closed);
    assert.is(rig.sc.hub.findGroup('big')?.seq ?? 0, 0);
  });
});

test('a client gone mid-body publishes nothing and gives back the memory its body reserved', async () => {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const socket = connect({ host, port });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  const before = node.count;
  socket.write(
    `POST /groups/gone/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(100)}`,
  );
  const used = () => rig.sc.hub.memoryReport().bodies;
  await waitFor(() => used() === 5000, 2000, 'the body reserved');
  assert.is(node.count, before, 'read by the front');
  socket.destroy();
  await waitFor(() => used() === 0, 2000, `the reservation released (held ${used()})`);
  assert.is(rig.sc.hub.findGroup('gone')?.seq ?? 0, 0);
});

test('a POST refused before its body is read never has its body buffered', async () => {
  await rig.restart({ jwtSecret: SECRET });
  const other = await hs256({ groupcast: { publish: ['other'] } });
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const socket = connect({ host, port, noDelay: true });
  socket.on('error', () => {});
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  await new Promise((r) => socket.once('connect', r));
  const before = process.memoryUsage().arrayBuffers;
  const declared = 16 * 1024 * 1024;
  socket.write(
    `POST /groups/denied/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${other}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  const piece = Buffer.alloc(64 * 1024, 0x61);
  // 1 MiB of it: a buffer of the declared size would show, garbage from reads would not.
  for (let i = 0; i < 16; i++) {
    if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
  }
  await waitFor(() => got.includes('403'), 3000, 'the refusal');
  await sleep(200);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 8 * 1024 * 1024, `grew ${grown} bytes for 1 MiB of a refused 16 MiB body`);
  assert.match(got, /^HTTP\/1\.1 403 /);
  socket.destroy();
});

test('with auth on, the front answers token holders as node:http does and leaves the rest to it', async () => {
  const overrides = { jwtSecret: SECRET };
  await rig.restart(overrides);
  const good = await hs256({ groupcast: { publish: ['a'], subscribe: ['a'] } });
  const cases: [string, string, boolean][] = [
    [post('a', 'm', `Authorization: Bearer ${good}\r\n`), 'granted', true],
    [post('b', 'm', `Authorization: Bearer ${good}\r\n`), 'not granted', true],
    [post('a', 'm', 'Authorization: Bearer not.a.jwt\r\n'), 'bad token', true],
    [post('a', 'm', 'Authorization: Basic eDp5\r\n'), 'not Bearer', false],
    [post('a', 'm'), 'no token', false],
  ];
  await withFrontOff(overrides, async (off) => {
    for (const [text, what, byFront] of cases) {
      const before = node.count;
      const front = shape(await exchange(rig.sc.addresses.http as string, [text]));
      assert.is(node.count - before, byFront ? 0 : 1, `${what}: who answered`);
      const plain = shape(await exchange(off.addresses.http as string, [text]));
      assert.equal(front, plain, what);
    }
  });
  const statuses = await Promise.all(
    cases.map(
      async ([text]) =>
        answers((await exchange(rig.sc.addresses.http as string, [text])).raw)[0].status,
    ),
  );
  assert.equal(statuses, [202, 403, 401, 401, 401]);
});

test('shutdown closes the front connections between requests at once', async () => {
  await rig.restart({ shutdownGraceMs: 5000 });
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const socket = connect({ host, port });
  socket.on('error', () => {});
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  const closed = new Promise((r) => socket.once('close', r));
  await new Promise((r) => socket.once('connect', r));
  const before = node.count;
  socket.write(post('down', 'x'));
  await waitFor(() => got.includes('\r\n\r\n{'), 2000, 'the answer');
  assert.is(node.count, before, 'a front connection');
  const started = Date.now();
  await rig.sc.close();
  await closed;
  assert.ok(
    Date.now() - started < 2000,
    `closed in ${Date.now() - started} ms, not after the grace`,
  );
  // The rig's own close at the end is idempotent.
});

test('GROUPCAST_HTTP_FRONT=off leaves every request to node:http', async () => {
  const { options } = resolveSidecarOptions({ GROUPCAST_HTTP_FRONT: 'off' }, []);
  assert.is(options.httpFront, false);
  await rig.restart({ httpFront: options.httpFront });
  const before = node.count;
  const got = await exchange(rig.sc.addresses.http as string, [
    post('off', 'a') + post('off', 'b'),
  ]);
  assert.equal(
    answers(got.raw).map((a) => a.status),
    [202, 202],
  );
  assert.is(node.count - before, 2);
});

test.run();
