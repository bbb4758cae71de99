import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeTcp } from '../../api/client/node-transport.ts';
import { TcpClient, type TcpClientOptions, type TcpClientStatus } from '../../shared/client/tcp.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { TcpProxy } from '../helpers/proxy.ts';
import { hostPort, sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

let sc: Sidecar | undefined;
const cleanup: (() => unknown)[] = [];

test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await sc?.close();
  sc = undefined;
});

async function sidecar(overrides: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  sc = await startTestSidecar({ udpPort: null, ...overrides });
  return sc;
}

interface Probe {
  client: TcpClient;
  received: string[];
  statuses: TcpClientStatus[];
}

function client(address: string, group: string, extra: Partial<TcpClientOptions> = {}): Probe {
  const received: string[] = [];
  const statuses: TcpClientStatus[] = [];
  const c = new TcpClient({
    ...hostPort(address),
    group,
    connect: nodeTcp,
    backoff: { initialMs: 20, maxMs: 100 },
    onMessage: (d) => received.push(new TextDecoder().decode(d)),
    onStatus: (s) => statuses.push(s),
    ...extra,
  });
  cleanup.push(() => c.close());
  return { client: c, received, statuses };
}

const members = (group: string) => sc?.hub.findGroup(group)?.counts.tcp ?? 0;

test('joins, sends framed lines and receives the group, never its own messages', async () => {
  const s = await sidecar();
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'lobby');
  cleanup.push(() => peer.close());
  const a = client(s.addresses.tcp as string, 'lobby');
  await waitFor(() => members('lobby') === 2, 3000, 'both joined');
  assert.ok(a.client.connected);
  a.client.send('from the client');
  a.client.send(new TextEncoder().encode('bytes too\n'));
  await peer.waitForText('from the client\nbytes too\n');
  peer.write('from the peer\n');
  await waitFor(() => a.received.length === 1);
  assert.equal(a.received, ['from the peer']);
  assert.throws(() => a.client.send('two\nlines'), /newline/);
});

for (const framing of ['length', 'raw'] as const) {
  test(`speaks ${framing} framing when the hub does`, async () => {
    const s = await sidecar({ tcpFraming: framing });
    const a = client(s.addresses.tcp as string, 'f', { framing });
    const b = client(s.addresses.tcp as string, 'f', { framing });
    await waitFor(() => members('f') === 2, 3000, 'both joined');
    a.client.send('one\nwith newline');
    await waitFor(() => b.received.length === 1);
    assert.equal(b.received, ['one\nwith newline']);
  });
}

test('reconnects and joins again after the connection is cut; sends made while down arrive', async () => {
  const s = await sidecar();
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  cleanup.push(() => proxy.close());
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'r');
  cleanup.push(() => peer.close());
  const a = client(proxy.address, 'r', { backoff: { initialMs: 300, maxMs: 300, jitter: 0 } });
  await waitFor(() => members('r') === 2, 3000, 'joined');
  a.client.send('before');
  await peer.waitForText('before\n');
  proxy.cut();
  await waitFor(() => !a.client.connected, 2000, 'noticed the cut');
  a.client.send('while down 1');
  a.client.send('while down 2');
  assert.ok(a.client.bufferedBytes > 0, 'held while down');
  await peer.waitForText('while down 1\nwhile down 2\n', 5000);
  assert.is(members('r'), 2, 'joined again');
  assert.is(proxy.accepted, 2);
  const kinds = a.statuses.map((x) => x.type);
  assert.ok(kinds.indexOf('disconnected') < kinds.lastIndexOf('connected'), kinds.join());
  peer.write('after\n');
  await waitFor(() => a.received.includes('after'));
});

test('the buffer while down is bounded: the oldest messages are dropped and reported', async () => {
  const s = await sidecar();
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  cleanup.push(() => proxy.close());
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'b');
  cleanup.push(() => peer.close());
  const a = client(proxy.address, 'b', {
    bufferBytes: 100,
    backoff: { initialMs: 500, maxMs: 500, jitter: 0 },
  });
  await waitFor(() => members('b') === 2, 3000, 'joined');
  proxy.cut();
  await waitFor(() => !a.client.connected, 2000, 'noticed the cut');
  // 20 messages of 10 bytes (with the newline) into a 100-byte buffer.
  for (let i = 0; i < 20; i++) a.client.send(`msg-${String(i).padStart(5, '0')}`);
  assert.is(a.client.bufferedBytes, 100);
  assert.is(a.client.dropped, 10);
  const dropped = a.statuses.filter((x) => x.type === 'dropped');
  assert.is(
    dropped.reduce((n, x) => n + (x.type === 'dropped' ? x.messages : 0), 0),
    10,
  );
  assert.not.ok(a.client.send('x'.repeat(200)), 'larger than the whole buffer');
  await peer.waitForText('msg-00019\n', 5000);
  const lines = peer.text.trim().split('\n');
  assert.equal(
    lines,
    Array.from({ length: 10 }, (_, i) => `msg-${String(i + 10).padStart(5, '0')}`),
    'the newest ten, in order',
  );
});

test('a refused join is reported with its code and retried; a misconfigured one stops', async () => {
  const s = await sidecar({ maxMembersPerGroup: 1 });
  const first = await TcpPeer.open(s.addresses.tcp as string, 'full');
  cleanup.push(() => first.close());
  await waitFor(() => members('full') === 1);
  const a = client(s.addresses.tcp as string, 'full', { backoff: { initialMs: 50, maxMs: 50 } });
  await waitFor(() => a.statuses.filter((x) => x.type === 'rejected').length >= 2, 3000);
  const r = a.statuses.find((x) => x.type === 'rejected');
  assert.ok(r?.type === 'rejected' && r.error.code === 'GROUP_FULL' && !r.fatal);
  assert.not.ok(
    a.received.some((m) => m.startsWith('ERROR')),
    'the error line is not a message',
  );
  first.close();
  await waitFor(() => members('full') === 1 && a.client.connected, 3000, 'got in');

  const b = client(s.addresses.tcp as string, 'g', { prefix: 'WRONG:' });
  await waitFor(() => b.statuses.some((x) => x.type === 'closed'), 3000, 'stopped');
  const fatal = b.statuses.find((x) => x.type === 'rejected');
  assert.ok(fatal?.type === 'rejected' && fatal.error.code === 'BAD_JOIN' && fatal.fatal);
  assert.not.ok(b.client.send('x'), 'closed');
  await sleep(200);
  assert.is(b.statuses.filter((x) => x.type === 'connecting').length, 1, 'no retry');
});

test("a member's own line that looks like the hub's ERROR line is still delivered", async () => {
  const s = await sidecar();
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'logs');
  cleanup.push(() => peer.close());
  const a = client(s.addresses.tcp as string, 'logs');
  await waitFor(() => members('logs') === 2, 3000, 'joined');
  peer.write('ERROR disk full on lobby-2\n');
  peer.write('ERROR GROUP_FULL but only as text\n');
  await waitFor(() => a.received.length === 2, 3000, 'both lines');
  assert.equal(a.received, ['ERROR disk full on lobby-2', 'ERROR GROUP_FULL but only as text']);
  assert.not.ok(a.statuses.some((x) => x.type === 'rejected'));
  assert.ok(a.client.connected);
});

test('sends the join secret of a protected group; a wrong one is reported as UNAUTHORIZED', async () => {
  const s = await sidecar({ joinSecrets: [{ pattern: 'vip*', secret: 's3cret' }] });
  const good = client(s.addresses.tcp as string, 'vip-lounge', { joinSecret: 's3cret' });
  const bad = client(s.addresses.tcp as string, 'vip-lounge', {
    joinSecret: 'guess',
    backoff: { initialMs: 50, maxMs: 50 },
  });
  await waitFor(() => members('vip-lounge') === 1 && good.client.connected, 3000, 'joined');
  await waitFor(() => bad.statuses.some((x) => x.type === 'rejected'), 3000, 'refused');
  const r = bad.statuses.find((x) => x.type === 'rejected');
  assert.ok(r?.type === 'rejected' && r.error.code === 'UNAUTHORIZED' && !r.fatal);
  await sleep(200);
  assert.is(members('vip-lounge'), 1, 'the wrong secret never got in');
});

test('a hub that stops reading is detected by the write timeout', async () => {
  const s = await sidecar({ maxPendingBytes: 64 * 1024 * 1024 });
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  cleanup.push(() => proxy.close());
  const a = client(proxy.address, 'w', { writeTimeoutMs: 300, bufferBytes: 4 * 1024 * 1024 });
  await waitFor(() => members('w') === 1, 3000, 'joined');
  proxy.stall();
  const chunk = 'x'.repeat(64 * 1024);
  const deadline = Date.now() + 10_000;
  // Fill the socket buffers until a write stays pending; bounded in time and bytes.
  for (let sent = 0; sent < 256 && Date.now() < deadline; sent++) {
    if (a.statuses.some((x) => x.type === 'disconnected')) break;
    a.client.send(chunk);
    await sleep(5);
  }
  await waitFor(() => a.statuses.some((x) => x.type === 'disconnected'), 3000, 'disconnected');
  const d = a.statuses.find((x) => x.type === 'disconnected');
  assert.match(
    d?.type === 'disconnected' ? d.error.message : '',
    /not taken within 300 ms/,
    a.statuses.map((x) => ('error' in x ? x.error.message : x.type)).join('; '),
  );
  await waitFor(() => proxy.accepted === 2, 3000, 'reconnected');
});

test('a silent link is detected by the idle timeout when one is set', async () => {
  const s = await sidecar();
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  cleanup.push(() => proxy.close());
  const a = client(proxy.address, 'i', { idleTimeoutMs: 300 });
  await waitFor(() => members('i') === 1, 3000, 'joined');
  proxy.stall();
  await waitFor(() => a.statuses.some((x) => x.type === 'disconnected'), 2000, 'disconnected');
  const d = a.statuses.find((x) => x.type === 'disconnected');
  assert.match(d?.type === 'disconnected' ? d.error.message : '', /nothing received for 300 ms/);
});

test('close() sends what was queued, then stops for good: no reconnect, sends refused', async () => {
  const s = await sidecar();
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'c');
  cleanup.push(() => peer.close());
  const a = client(s.addresses.tcp as string, 'c');
  await waitFor(() => members('c') === 2, 3000, 'joined');
  for (let i = 0; i < 100; i++) a.client.send(`last words ${i} ${'x'.repeat(1000)}`);
  await a.client.close();
  await peer.waitForText('last words 99 ', 3000);
  await a.client.close();
  assert.is(a.statuses.at(-1)?.type, 'closed');
  assert.not.ok(a.client.send('late'));
  await waitFor(() => members('c') === 1, 2000, 'left');
  await sleep(150);
  assert.is(a.statuses.filter((x) => x.type === 'connecting').length, 1);
});

test('close() right after send(), before the connection is even open, still delivers', async () => {
  const s = await sidecar();
  const peer = await TcpPeer.open(s.addresses.tcp as string, 'early');
  cleanup.push(() => peer.close());
  await waitFor(() => members('early') === 1, 3000, 'the peer joined');
  const a = client(s.addresses.tcp as string, 'early');
  assert.not.ok(a.client.connected, 'still connecting');
  a.client.send('player Steve joined proxy-1');
  await a.client.close();
  await peer.waitForText('player Steve joined proxy-1\n', 3000);
  assert.is(a.statuses.at(-1)?.type, 'closed');
});

test('close() rejects with UNREACHABLE when what was sent could not be handed over in time', async () => {
  const s = await sidecar();
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  const address = proxy.address;
  await proxy.close();
  const a = client(address, 'gone');
  a.client.send('nobody hears this');
  const err = await a.client.close(200).then(
    () => null,
    (e) => e,
  );
  assert.is(err?.code, 'UNREACHABLE');
  assert.match(err.message, /1 message/);
  assert.is(a.statuses.at(-1)?.type, 'closed');
  await a.client.close(0); // idempotent, and nothing left to report
});

test('an unreachable hub is retried with bounded backoff until it appears', async () => {
  const s = await sidecar();
  const proxy = await TcpProxy.open(s.addresses.tcp as string);
  const address = proxy.address;
  await proxy.close();
  const a = client(address, 'late', { backoff: { initialMs: 10, maxMs: 40, jitter: 0 } });
  await waitFor(() => a.statuses.filter((x) => x.type === 'reconnecting').length >= 5, 3000);
  const delays = a.statuses.flatMap((x) => (x.type === 'reconnecting' ? [x.delayMs] : []));
  assert.equal(delays.slice(0, 5), [10, 20, 40, 40, 40]);
  assert.not.ok(a.client.connected);
});

test.run();
