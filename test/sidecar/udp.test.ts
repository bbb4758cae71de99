import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';
import { UdpPeer } from '../helpers/udp.ts';

let sc: Sidecar;
const open: { close(): void }[] = [];

async function udp(register = true): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  open.push(p);
  if (register) {
    const before = sc.hub.findGroup('udp')?.counts.udp ?? 0;
    await p.register(sc.addresses.udp as string);
    await waitFor(() => sc.hub.findGroup('udp')?.counts.udp === before + 1, 2000, 'registration');
  }
  return p;
}

async function restart(overrides: Partial<SidecarOptions> = {}) {
  for (const p of open.splice(0)) p.close();
  await sc?.close();
  sc = await startTestSidecar(overrides);
}

test.before.each(() => restart());
test.after(async () => {
  for (const p of open.splice(0)) p.close();
  await sc.close();
});

test('a registered peer receives every datagram others send, never its own', async () => {
  const a = await udp();
  const b = await udp();
  const outsider = await udp(false);
  await a.send(sc.addresses.udp as string, 'from-a');
  await outsider.send(sc.addresses.udp as string, 'from-outsider');
  assert.equal(await b.waitForCount(2), ['from-a', 'from-outsider']);
  assert.equal(await a.waitForCount(1), ['from-outsider']);
  await sleep(50);
  assert.is(a.received.length, 1, 'a never got its own datagram back');
  assert.is(outsider.received.length, 0, 'an unregistered sender is not a member');
});

test('registering twice keeps one member', async () => {
  const a = await udp();
  await a.register(sc.addresses.udp as string);
  await sleep(50);
  assert.is(sc.hub.findGroup('udp')?.counts.udp, 1);
});

test('a registration with a bad port is refused and counted', async () => {
  const a = await udp(false);
  await a.send(sc.addresses.udp as string, 'SOCKETFORWARDER-NEW:99999');
  await a.send(sc.addresses.udp as string, 'SOCKETFORWARDER-NEW:abc');
  await waitFor(() => sc.hub.stats.rejected.get('BAD_REGISTRATION') === 2, 2000, 'rejections');
  assert.is(sc.hub.findGroup('udp')?.counts.udp ?? 0, 0);
});

test('preconfigured addresses receive from start-up', async () => {
  const pre = await UdpPeer.open();
  await restart({ udpPreconfig: [{ host: '127.0.0.1', port: pre.port }] });
  open.push(pre);
  assert.is(sc.hub.findGroup('udp')?.counts.udp, 1);
  const s = await udp(false);
  await s.send(sc.addresses.udp as string, 'hello-pre');
  assert.equal(await pre.waitForCount(1), ['hello-pre']);
});

test('TCP members of the UDP group bridge both ways', async () => {
  const u = await udp();
  const t = await TcpPeer.open(sc.addresses.tcp as string, 'udp');
  open.push(t);
  await waitFor(() => sc.hub.findGroup('udp')?.counts.tcp === 1);
  await u.send(sc.addresses.udp as string, 'udp->tcp');
  await t.waitForText('udp->tcp\n');
  t.write('tcp->udp\n');
  assert.equal(await u.waitForCount(1), ['tcp->udp']);
});

test('the UDP group name is an option', async () => {
  await restart({ udpGroup: 'bedrock' });
  const u = await udp(false);
  await u.register(sc.addresses.udp as string);
  await waitFor(
    () => sc.hub.findGroup('bedrock')?.counts.udp === 1,
    2000,
    'registration in bedrock',
  );
});

test('a TCP message bigger than a datagram is dropped for UDP members and counted', async () => {
  const u = await udp();
  const t = await TcpPeer.open(sc.addresses.tcp as string, 'udp');
  open.push(t);
  await waitFor(() => sc.hub.findGroup('udp')?.counts.tcp === 1);
  t.write(`${'x'.repeat(70_000)}\nsmall\n`);
  assert.equal(await u.waitForCount(1), ['small']);
  assert.is(sc.hub.stats.dropped.get('too_large_for_udp'), 1);
});

test('a datagram that line framing cannot carry is refused for TCP members and counted', async () => {
  const u = await udp();
  const t = await TcpPeer.open(sc.addresses.tcp as string, 'udp');
  open.push(t);
  await waitFor(() => sc.hub.findGroup('udp')?.counts.tcp === 1);
  await u.send(sc.addresses.udp as string, 'two\nlines');
  await u.send(sc.addresses.udp as string, 'ok');
  await t.waitForText('ok\n');
  assert.is(t.text, 'ok\n');
  assert.is(sc.hub.stats.rejected.get('UNFRAMEABLE'), 1);
});

test.run();
