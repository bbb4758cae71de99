import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostPort } from '../helpers/common.ts';
import { baseUrl, getJson, post } from '../helpers/http.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

// Redis clients nobody on this project wrote (redis-cli, ioredis, node-redis, Python's redis,
// PHP's phpredis) against a real sidecar's RESP port, side by side with TCP, HTTP and SSE.
const sc = await startTestSidecar({ groupTtlMs: 0 });
const { port } = hostPort(sc.addresses.resp as string);
const tcpAddress = sc.addresses.tcp as string;
const open: { close(): void }[] = [];
const children: ChildProcess[] = [];

function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}

/** A client process; its stdout is collected. Killed at the end if still running. */
function run(
  cmd: string,
  args: string[],
): { child: ChildProcess; out: () => string; done: Promise<number> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const done = new Promise<number>((resolve) =>
    child.on('close', (code) => {
      if (code !== 0 && err) process.stderr.write(`${cmd}: ${err}\n`);
      resolve(code ?? -1);
    }),
  );
  return { child, out: () => out, done };
}

async function members(group: string, transport: 'tcp' | 'sse' | 'resp', n: number) {
  await waitFor(
    () => (sc.hub.findGroup(group)?.counts[transport] ?? 0) === n,
    5000,
    `${n} ${transport} in ${group}`,
  );
}

async function tcpMember(group: string): Promise<TcpPeer> {
  const before = sc.hub.findGroup(group)?.counts.tcp ?? 0;
  const p = track(await TcpPeer.open(tcpAddress, group));
  await members(group, 'tcp', before + 1);
  return p;
}

async function sseMember(group: string): Promise<SseClient> {
  const before = sc.hub.findGroup(group)?.counts.sse ?? 0;
  const s = track(await SseClient.open(`${baseUrl(sc)}/groups/${group}/events`));
  await members(group, 'sse', before + 1);
  return s;
}

const PY_SUBSCRIBER = `
import sys, redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
p = r.pubsub()
p.subscribe(sys.argv[2])
print('ready', flush=True)
for _ in range(100):
    m = p.get_message(timeout=0.1)
    if m and m['type'] == 'message':
        print(m['channel'].decode(), m['data'].decode(), flush=True)
        break
`;

test("a SocketForwarder socket's line reaches a Python redis subscriber", async () => {
  const py = run('/usr/bin/python3', ['-c', PY_SUBSCRIBER, String(port), 'py-room']);
  await waitFor(() => py.out().includes('ready'), 5000, 'python subscribed');
  await members('py-room', 'resp', 1);
  const peer = await tcpMember('py-room');
  peer.write('hello from a socket\n');
  assert.is(await py.done, 0);
  assert.is(py.out().trim().split('\n').pop(), 'py-room hello from a socket');
});

test('a PHP phpredis PUBLISH reaches an SSE subscriber and a TCP member, and counts them', async () => {
  const peer = await tcpMember('php-room');
  const sse = await sseMember('php-room');
  const php = run('php', [
    '-r',
    `$r = new Redis(); $r->connect('127.0.0.1', ${port}); echo $r->publish('php-room', 'from php');`,
  ]);
  assert.is(await php.done, 0);
  assert.is(php.out(), '2', 'PUBLISH returns the recipients of every transport');
  assert.is(await peer.waitForText('from php\n'), 'from php\n');
  const [event] = await sse.waitForMessages(1);
  assert.is(event.data, 'from php');
});

test('an ioredis pattern subscription sees the matching channels from every transport, and only those', async () => {
  const sub = new Redis({ port, lazyConnect: true });
  open.push({ close: () => sub.disconnect() });
  await sub.connect();
  const seen: string[] = [];
  sub.on('pmessage', (pattern: string, channel: string, message: string) =>
    seen.push(`${pattern} ${channel} ${message}`),
  );
  await sub.psubscribe('room-*');
  // A group that exists before and one created after the PSUBSCRIBE.
  const early = await tcpMember('room-1');
  await post(sc, 'room-2', 'over http');
  early.write('over tcp\n');
  await post(sc, 'lobby', 'not for the pattern');
  const pub = new Redis({ port });
  open.push({ close: () => pub.disconnect() });
  assert.is(await pub.publish('room-3', 'over resp'), 1);
  await waitFor(() => seen.length >= 3, 5000, 'three pmessages');
  assert.equal(seen.sort(), [
    'room-* room-1 over tcp',
    'room-* room-2 over http',
    'room-* room-3 over resp',
  ]);
  // A pattern alone keeps no group: room-3 has no other member and is gone.
  await waitFor(() => !sc.hub.findGroup('room-3'), 2000, 'room-3 dropped');
});

test('node-redis (RESP3) subscribes and publishes; PUBSUB NUMSUB counts members of every transport', async () => {
  const url = `redis://127.0.0.1:${port}`;
  const sub = createClient({ url, RESP: 3 });
  const pub = createClient({ url });
  await Promise.all([sub.connect(), pub.connect()]);
  open.push({ close: () => sub.destroy() }, { close: () => pub.destroy() });
  const got: string[] = [];
  await sub.subscribe('mixed', (message, channel) => got.push(`${channel} ${message}`));
  await tcpMember('mixed');
  await sseMember('mixed');
  assert.equal(await pub.PUBSUB_NUMSUB('mixed'), { mixed: 3 });
  assert.is(await pub.publish('mixed', 'hi'), 3);
  await waitFor(() => got.length === 1, 5000, 'node-redis message');
  assert.equal(got, ['mixed hi']);
  const { json } = await getJson(sc, '/groups/mixed');
  assert.is(json.counts.resp, 1);
});

test('redis-cli publishes and subscribes', async () => {
  const cli = run('redis-cli', ['-p', String(port), 'SUBSCRIBE', 'cli-room']);
  await members('cli-room', 'resp', 1);
  const { json } = await post(sc, 'cli-room', 'to redis-cli');
  assert.is(json.recipients, 1);
  await waitFor(() => cli.out().includes('to redis-cli'), 5000, 'redis-cli output');
  assert.equal(cli.out().trim().split('\n').slice(-3), ['message', 'cli-room', 'to redis-cli']);
  cli.child.kill();
  const peer = await tcpMember('cli-pub');
  const pub = run('redis-cli', ['-p', String(port), 'PUBLISH', 'cli-pub', 'from redis-cli']);
  assert.is(await pub.done, 0);
  assert.is(pub.out().trim(), '1');
  assert.is(await peer.waitForText('from redis-cli\n'), 'from redis-cli\n');
});

test.after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill();
  for (const o of open) o.close();
  await sc.close();
});

test.run();
