import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { globMatch } from '../../shared/glob.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import { RespParser, RespProtocolError } from '../../sidecar/resp/resp-parser.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { encodeCommand, RespWire, replyLength } from '../helpers/resp.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const running: Sidecar[] = [];
async function sidecar(o: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  const sc = await startTestSidecar(o);
  running.push(sc);
  return sc;
}
const wires: RespWire[] = [];
async function wire(sc: Sidecar): Promise<RespWire> {
  const w = await RespWire.open(sc.addresses.resp as string);
  wires.push(w);
  return w;
}
async function ask(w: RespWire, ...args: string[]): Promise<string> {
  w.send(args);
  return (await w.read(1))[0].toString('latin1');
}

test.after.each(async () => {
  for (const w of wires.splice(0)) w.close();
  for (const sc of running.splice(0)) await sc.close();
});

test('glob patterns match as Redis does: * ? [set] [^set] [a-z] and escapes', () => {
  const cases: [string, string, boolean][] = [
    ['*', '', true],
    ['*', 'anything', true],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h*llo', 'heeeello', true],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true],
    ['h[b-a]llo', 'hallo', true],
    ['h[a-b]llo', 'hcllo', false],
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['room-*', 'room-', true],
    ['room-*', 'roo', false],
    ['[abc', 'a', true],
  ];
  const enc = (s: string) => new TextEncoder().encode(s);
  for (const [p, s, want] of cases) assert.is(globMatch(enc(p), enc(s)), want, `${p} ~ ${s}`);
  // Many stars against a long subject that does not match stays fast (no exponential backtracking).
  const start = Date.now();
  assert.is(globMatch(enc(`${'a*'.repeat(100)}b`), enc('a'.repeat(200))), false);
  assert.ok(Date.now() - start < 200);
});

test('the parser reads the same commands however the stream is cut, and holds nothing after', () => {
  const cmds: Buffer[][] = [];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 200; i++) {
    const args: Buffer[] = [];
    for (let j = 0, n = 1 + rand(4); j < n; j++) {
      args.push(Buffer.from(Array.from({ length: rand(40) }, () => rand(256))));
    }
    cmds.push(args);
  }
  const stream = Buffer.concat(cmds.map((c) => encodeCommand(c)));
  for (let round = 0; round < 20; round++) {
    const p = new RespParser(16, 1024);
    const got: Buffer[][] = [];
    for (let at = 0; at < stream.length; ) {
      const n = 1 + rand(64);
      p.push(stream.subarray(at, at + n));
      at += n;
      for (let c = p.next(); c !== null; c = p.next()) got.push(c);
    }
    assert.equal(got, cmds);
    assert.is(p.memory, 0);
  }
  const tooMany = new RespParser(2, 1024);
  tooMany.push(Buffer.from('*3\r\n'));
  assert.throws(
    () => tooMany.next(),
    (e: unknown) => e instanceof RespProtocolError,
  );
  const tooBig = new RespParser(2, 10);
  tooBig.push(Buffer.from('*1\r\n$11\r\n'));
  assert.throws(
    () => tooBig.next(),
    (e: unknown) => e instanceof RespProtocolError,
  );
});

test("the parser's PUBLISH fast path takes exactly the PUBLISHes to one channel that next() would read, however the stream is cut", () => {
  let seed = 11;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (s: string) => Buffer.from(s);
  const cmds: Buffer[][] = [];
  for (let i = 0; i < 400; i++) {
    const payload = Buffer.from(Array.from({ length: rand(30) }, () => rand(256)));
    const k = rand(10);
    // Mostly PUBLISHes to `room`; some in other cases, to other channels, empty, SPUBLISH, PING.
    if (k < 5) cmds.push([word('PUBLISH'), word('room'), payload]);
    else if (k === 5) cmds.push([word('publish'), word('room'), payload]);
    else if (k === 6) cmds.push([word('PUBLISH'), word('roomy'), payload]);
    else if (k === 7) cmds.push([word('SPUBLISH'), word('room'), payload]);
    else if (k === 8) cmds.push([word('PUBLISH'), word('room'), payload, word('x')]);
    else cmds.push([word('PING')]);
  }
  const stream = Buffer.concat(cmds.map((c) => encodeCommand(c)));
  const channel = word('room');
  const fast = (c: Buffer[]) =>
    c.length === 3 &&
    c[0].toString().toLowerCase() === 'publish' &&
    c[1].equals(channel) &&
    c[2].byteLength > 0;
  for (let round = 0; round < 20; round++) {
    const p = new RespParser(16, 1024);
    const got: Buffer[][] = [];
    let taken = 0;
    for (let at = 0; at < stream.length; ) {
      const n = 1 + rand(64);
      p.push(stream.subarray(at, at + n));
      at += n;
      for (;;) {
        const payload = p.nextPublishTo(channel);
        if (payload) {
          // It took the command next() would have read next, and only one it may take.
          const want = cmds[got.length];
          assert.ok(fast(want), `command ${got.length}`);
          assert.equal(payload, want[2]);
          got.push(want);
          taken++;
          continue;
        }
        const c = p.next();
        if (c === null) break;
        got.push(c);
      }
    }
    assert.equal(got, cmds);
    assert.is(p.memory, 0);
    assert.ok(taken > 0);
  }
});

test('bad input gets a Redis error reply with a stable code; the connection and the sidecar go on', async () => {
  const sc = await sidecar({ respMaxSubscriptions: 3, respMaxPatterns: 1, maxMessageBytes: 1024 });
  const w = await wire(sc);
  assert.match(await ask(w, 'SUBSCRIBE', 'bad group'), /^-INVALID_GROUP_ID invalid group id/);
  assert.match(await ask(w, 'SUBSCRIBE', 'a', 'b', 'c', 'd'), /^-TOO_MANY_SUBSCRIPTIONS /);
  assert.match(await ask(w, 'PUBLISH', 'a', ''), /^-EMPTY_MESSAGE /);
  // Line framing (the default): a newline cannot be told from the end of a message.
  assert.match(await ask(w, 'PUBLISH', 'a', 'two\nlines'), /^-UNFRAMEABLE /);
  assert.is(await ask(w, 'PUBLISH', 'a', 'fine'), ':0\r\n');
  const other = await wire(sc);
  assert.match(await ask(w, 'PSUBSCRIBE', 'x*'), /psubscribe/);
  assert.match(await ask(other, 'PSUBSCRIBE', 'y*'), /^-TOO_MANY_PATTERNS /);
  // A bulk longer than a message may be is not read: Redis's protocol error, then the close.
  other.send(`*3\r\n$7\r\nPUBLISH\r\n$1\r\na\r\n$2000\r\n`);
  assert.is((await other.read(1))[0].toString(), '-ERR Protocol error: invalid bulk length\r\n');
  await other.ended();
  assert.is(await ask(w, 'PING'), '*2\r\n$4\r\npong\r\n$0\r\n\r\n');
  assert.is(sc.hub.stats.rejected.get('RESP_PROTOCOL'), 1);
  await waitFor(() => sc.hub.budget.used.partial === 0, 2000, 'partial bytes released');
});

test('the RESP listener is in /healthz and its connections, members and traffic in /metrics', async () => {
  const sc = await sidecar();
  const w = await wire(sc);
  await ask(w, 'SUBSCRIBE', 'seen');
  const p = await wire(sc);
  await ask(p, 'PUBLISH', 'seen', 'hello');
  const health = await (await fetch(`http://${sc.addresses.http}/healthz`)).json();
  assert.equal(health.listeners.resp, { listening: true, address: sc.addresses.resp });
  assert.is(health.connections.resp, 2);
  const metrics = await (await fetch(`http://${sc.addresses.http}/metrics`)).text();
  for (const line of [
    'groupcast_connections{transport="resp"} 2',
    'groupcast_members{transport="resp"} 1',
    'groupcast_messages_in_total{transport="resp"} 1',
    'groupcast_messages_out_total{transport="resp"} 1',
  ]) {
    assert.ok(metrics.includes(line), line);
  }
});

test('addresses outside the allowlist are refused with a Redis error reply', async () => {
  const sc = await sidecar({ tcpAllow: ['10.0.0.0/8'] });
  const w = await wire(sc);
  const [reply] = await w.read(1);
  assert.match(reply.toString(), /^-ADDRESS_NOT_ALLOWED /);
  await w.ended();
});

test('a pattern follows groups but keeps none alive; NUMSUB leaves followers out', async () => {
  const sc = await sidecar({ groupTtlMs: 0 });
  const pat = await wire(sc);
  await ask(pat, 'PSUBSCRIBE', 'g*');
  const sub = await wire(sc);
  await ask(sub, 'SUBSCRIBE', 'g1');
  assert.is(sc.hub.findGroup('g1')?.counts.resp, 2);
  const q = await wire(sc);
  assert.is(await ask(q, 'PUBSUB', 'NUMSUB', 'g1'), '*2\r\n$2\r\ng1\r\n:1\r\n');
  await ask(sub, 'UNSUBSCRIBE', 'g1');
  // Only the pattern is left: the group goes.
  await waitFor(() => !sc.hub.findGroup('g1'), 2000, 'g1 dropped');
  assert.is(sc.hub.groupCount, 0);
  // And comes back, followed again, when something joins it.
  await ask(sub, 'SUBSCRIBE', 'g1');
  assert.is(await ask(q, 'PUBLISH', 'g1', 'again'), ':2\r\n');
  const [push] = await pat.read(1);
  assert.is(push.toString(), '*4\r\n$8\r\npmessage\r\n$2\r\ng*\r\n$2\r\ng1\r\n$5\r\nagain\r\n');
});

test('a RESP subscriber that stops reading holds a TCP publisher back, then is cut within the stall timeout', async () => {
  const sc = await sidecar({ flowHighWater: 64 * 1024, stallTimeoutMs: 800 });
  const stopped = await wire(sc);
  await ask(stopped, 'SUBSCRIBE', 'flow');
  stopped.socket.pause();
  const reader = await wire(sc);
  await ask(reader, 'SUBSCRIBE', 'flow');
  let received = 0;
  let carry = Buffer.alloc(0);
  reader.socket.removeAllListeners('data');
  reader.socket.on('data', (d: Buffer) => {
    carry = Buffer.concat([carry, d]);
    for (let n = replyLength(carry); n > 0; n = replyLength(carry)) {
      carry = carry.subarray(n);
      received++;
    }
  });
  const pub = await TcpPeer.open(sc.addresses.tcp as string, 'flow');
  await waitFor(() => sc.hub.findGroup('flow')?.counts.tcp === 1, 2000, 'tcp join');
  const lines = 16 * 1024;
  const line = `${'x'.repeat(1023)}\n`;
  const start = Date.now();
  pub.write(line.repeat(lines));
  await waitFor(() => sc.hub.findGroup('flow')?.congested, 5000, 'congested');
  await waitFor(() => sc.hub.stats.slowConsumers.resp === 1, 5000, 'the cut');
  const cutAfter = Date.now() - start;
  assert.ok(cutAfter < 800 + 1000, `cut after ${cutAfter} ms`);
  await waitFor(() => received === lines, 10_000, `all ${lines} messages to the reader`);
  pub.close();
});

test('a client that does not read its replies is not read either (its reply queue stays bounded)', async () => {
  const sc = await sidecar({ flowHighWater: 64 * 1024 });
  const w = await wire(sc);
  w.socket.pause();
  // More replies (4 bytes each) than the kernel's socket buffers hold on loopback.
  const n = 4_000_000;
  const one = encodeCommand(['PUBLISH', 'quiet', 'x']);
  w.send(Buffer.concat(Array.from({ length: n }, () => one)));
  // Read until it stops reading.
  const read = () => sc.hub.stats.byTransport.resp.messagesIn;
  let taken = -1;
  while (taken !== read()) {
    taken = read();
    await sleep(300);
  }
  assert.ok(taken < n, `all ${n} PUBLISH read while no reply was read`);
  w.socket.resume();
  const replies = await w.read(n, 30_000);
  assert.is(replies.length, n);
});

test('past the rate limit a PUBLISH is refused with RATE_LIMITED, in order', async () => {
  const sc = await sidecar({ rateLimit: 3, rateBurst: 3 });
  const w = await wire(sc);
  w.send(Buffer.concat(Array.from({ length: 10 }, () => encodeCommand(['PUBLISH', 'r', 'x']))));
  const replies = (await w.read(10)).map((r) => r.toString().slice(0, 13));
  assert.equal(replies.slice(0, 3), [':0\r\n', ':0\r\n', ':0\r\n']);
  const refused = replies.filter((r) => r === '-RATE_LIMITED').length;
  assert.ok(refused >= 5, replies.join(' '));
  assert.is(sc.hub.stats.rejected.get('RATE_LIMITED'), refused);
});

test('a RESP publisher is not read while its group is congested, and goes on once it drains', async () => {
  const sc = await sidecar({ flowHighWater: 64 * 1024, stallTimeoutMs: 1500 });
  const stopped = await TcpPeer.open(sc.addresses.tcp as string, 'held');
  await waitFor(() => sc.hub.findGroup('held')?.counts.tcp === 1, 2000, 'tcp join');
  stopped.socket.pause();
  const pub = await wire(sc);
  const n = 20_000;
  const payload = 'y'.repeat(1024);
  pub.send(
    Buffer.concat(Array.from({ length: n }, () => encodeCommand(['PUBLISH', 'held', payload]))),
  );
  await waitFor(() => sc.hub.findGroup('held')?.congested, 5000, 'congested');
  await sleep(300);
  const early = (await pub.readUntilQuiet(50)).length;
  assert.ok(early < n, `${early} of ${n} PUBLISH answered while the group was congested`);
  // The stopped member is cut at the stall timeout; the rest is then read and answered.
  const rest = await pub.read(n - early, 10_000);
  assert.is(early + rest.length, n);
  assert.is(sc.hub.stats.slowConsumers.tcp, 1);
  stopped.socket.resume();
  stopped.close();
});

test.run();
