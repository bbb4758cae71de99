import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteHub } from '../../api/edge/remote-hub.ts';
import { baseUrl } from '../helpers/http.ts';
import { RespWire } from '../helpers/resp.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const sc = await startTestSidecar({ nodeId: 'node-p' });
const url = (group: string, q = '') => `${baseUrl(sc)}/groups/${group}/events${q}`;
const closers: { close(): void }[] = [];
function track<T extends { close(): void }>(x: T): T {
  closers.push(x);
  return x;
}

test.after.each(() => {
  for (const c of closers.splice(0)) c.close();
});

test('SSE with ?presence=true gets join and leave events with member, transport, remote, node and name', async () => {
  const watcher = track(await SseClient.open(url('lobby', '?presence=true')));
  const plain = track(await SseClient.open(url('lobby')));
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.sse === 2, 2000, 'sse joins');
  const redis = track(await RespWire.open(sc.addresses.resp as string));
  redis.send(['CLIENT', 'SETNAME', 'proxy-1']);
  redis.send(['SUBSCRIBE', 'lobby']);
  await redis.read(2);
  const peer = track(await TcpPeer.open(sc.addresses.tcp as string, 'lobby'));
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.tcp === 1, 2000, 'tcp join');
  redis.send(['UNSUBSCRIBE', 'lobby']);
  await redis.read(1);
  await waitFor(
    () => watcher.events.filter((e) => e.event !== 'message').length >= 4,
    3000,
    'events',
  );
  const events = watcher.events.map((e) => ({ event: e.event, ...JSON.parse(e.data) }));
  // The watcher listened first: the plain stream's join is the first event.
  assert.equal(
    events.map((e) => `${e.event} ${e.transport}`),
    ['join sse', 'join resp', 'join tcp', 'leave resp'],
  );
  const join = events[1];
  assert.is(join.type, 'join');
  assert.is(join.group, 'lobby');
  assert.is(join.node, 'node-p');
  assert.is(join.name, 'proxy-1');
  assert.match(join.remote, /^127\.0\.0\.1:\d+$/);
  assert.is(events[3].member, join.member);
  assert.is(typeof join.at, 'string');
  assert.is(events[2].name, undefined);
  // Without the parameter: nothing but messages.
  assert.equal(plain.events, []);
  peer.close();
});

test('the RESP presence channel __presence__:<group> carries the same JSON; nothing is published to it', async () => {
  const redis = track(await RespWire.open(sc.addresses.resp as string));
  redis.send(['SUBSCRIBE', '__presence__:room']);
  assert.is(
    (await redis.read(1))[0].toString(),
    '*3\r\n$9\r\nsubscribe\r\n$17\r\n__presence__:room\r\n:1\r\n',
  );
  const sse = await SseClient.open(url('room'));
  const [pushJoin] = await redis.read(1);
  sse.close();
  const [pushLeave] = await redis.read(1);
  const parse = (push: Buffer) => {
    const lines = push.toString().split('\r\n');
    assert.equal(lines.slice(0, 5), ['*3', '$7', 'message', '$17', '__presence__:room']);
    return JSON.parse(lines[6]);
  };
  const join = parse(pushJoin);
  const leave = parse(pushLeave);
  assert.is(join.type, 'join');
  assert.is(join.transport, 'sse');
  assert.is(leave.type, 'leave');
  assert.is(leave.member, join.member);
  const other = track(await RespWire.open(sc.addresses.resp as string));
  other.send(['PUBLISH', '__presence__:room', 'x']);
  assert.match((await other.read(1))[0].toString(), /^-FORBIDDEN /);
  redis.send(['UNSUBSCRIBE']);
  await redis.read(1);
  // Unsubscribed: no more events.
  const again = await SseClient.open(url('room'));
  await waitFor(() => sc.hub.findGroup('room')?.counts.sse === 1, 2000, 'sse join');
  again.close();
  await sleep(100);
  assert.equal(await redis.readUntilQuiet(50), []);
});

test('?presence with a bad value is refused with BAD_REQUEST', async () => {
  const res = await fetch(url('room', '?presence=maybe'));
  assert.is(res.status, 400);
  assert.is((await res.json()).error.code, 'BAD_REQUEST');
});

test('the edge worker refuses presence (its subscribers share one upstream stream)', async () => {
  const edge = new RemoteHub({ url: baseUrl(sc) });
  const subscriber = {
    remote: 'test',
    pendingBytes: 0,
    takenBytes: 0,
    write: () => {},
    close: () => {},
  };
  try {
    await edge.subscribe('room', { kind: 'live' }, subscriber, { presence: true });
    assert.unreachable('subscribed');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'BAD_REQUEST');
  }
});

test.after(async () => {
  await sc.close();
});

test.run();
