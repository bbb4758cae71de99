import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SidecarRig } from '../helpers/rig.ts';
import { sleep, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';
import { UdpPeer } from '../helpers/udp.ts';

const rig = new SidecarRig(test, { fresh: true });

test('a registered peer receives every datagram others send, never its own', async () => {
  const a = await rig.udp();
  const b = await rig.udp();
  const outsider = await rig.udp(false);
  await a.send(rig.sc.addresses.udp as string, 'from-a');
  await outsider.send(rig.sc.addresses.udp as string, 'from-outsider');
  assert.equal(await b.waitForCount(2), ['from-a', 'from-outsider']);
  assert.equal(await a.waitForCount(1), ['from-outsider']);
  await sleep(50);
  assert.is(a.received.length, 1, 'a never got its own datagram back');
  assert.is(outsider.received.length, 0, 'an unregistered sender is not a member');
});

test('registering twice keeps one member', async () => {
  const a = await rig.udp();
  await a.register(rig.sc.addresses.udp as string);
  await sleep(50);
  assert.is(rig.sc.hub.findGroup('udp')?.counts.udp, 1);
});

test('a registration with a bad port is refused and counted', async () => {
  const badRegistration = { reason: 'BAD_REGISTRATION' };
  const before = await rig.metric('groupcast_rejected_total', badRegistration);
  const a = await rig.udp(false);
  await a.send(rig.sc.addresses.udp as string, 'SOCKETFORWARDER-NEW:99999');
  await a.send(rig.sc.addresses.udp as string, 'SOCKETFORWARDER-NEW:abc');
  await waitFor(() => rig.sc.hub.stats.rejected.get('BAD_REGISTRATION') === 2, 2000, 'rejections');
  assert.is(rig.sc.hub.findGroup('udp')?.counts.udp ?? 0, 0);
  assert.is(await rig.metric('groupcast_rejected_total', badRegistration), before + 2);
});

test('preconfigured addresses receive from start-up', async () => {
  const pre = await UdpPeer.open();
  await rig.restart({ udpPreconfig: [{ host: '127.0.0.1', port: pre.port }] });
  rig.track(pre);
  assert.is(rig.sc.hub.findGroup('udp')?.counts.udp, 1);
  const s = await rig.udp(false);
  await s.send(rig.sc.addresses.udp as string, 'hello-pre');
  assert.equal(await pre.waitForCount(1), ['hello-pre']);
});

test('TCP members of the UDP group bridge both ways', async () => {
  const u = await rig.udp();
  const t = await TcpPeer.open(rig.sc.addresses.tcp as string, 'udp');
  rig.track(t);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.tcp === 1);
  await u.send(rig.sc.addresses.udp as string, 'udp->tcp');
  await t.waitForText('udp->tcp\n');
  t.write('tcp->udp\n');
  assert.equal(await u.waitForCount(1), ['tcp->udp']);
});

test('the UDP group name is an option', async () => {
  await rig.restart({ udpGroup: 'bedrock' });
  const u = await rig.udp(false);
  await u.register(rig.sc.addresses.udp as string);
  await waitFor(
    () => rig.sc.hub.findGroup('bedrock')?.counts.udp === 1,
    2000,
    'registration in bedrock',
  );
});

test('a TCP message bigger than a datagram is dropped for UDP members and counted', async () => {
  const tooLarge = { reason: 'too_large_for_udp' };
  const before = await rig.metric('groupcast_dropped_total', tooLarge);
  const u = await rig.udp();
  const t = await TcpPeer.open(rig.sc.addresses.tcp as string, 'udp');
  rig.track(t);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.tcp === 1);
  t.write(`${'x'.repeat(70_000)}\nsmall\n`);
  assert.equal(await u.waitForCount(1), ['small']);
  assert.is(rig.sc.hub.stats.dropped.get('too_large_for_udp'), 1);
  assert.is(await rig.metric('groupcast_dropped_total', tooLarge), before + 1);
});

test('a datagram that line framing cannot carry is refused for TCP members and counted', async () => {
  const unframeable = { reason: 'UNFRAMEABLE' };
  const before = await rig.metric('groupcast_rejected_total', unframeable);
  const u = await rig.udp();
  const t = await TcpPeer.open(rig.sc.addresses.tcp as string, 'udp');
  rig.track(t);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.tcp === 1);
  await u.send(rig.sc.addresses.udp as string, 'two\nlines');
  await u.send(rig.sc.addresses.udp as string, 'ok');
  await t.waitForText('ok\n');
  assert.is(t.text, 'ok\n');
  assert.is(rig.sc.hub.stats.rejected.get('UNFRAMEABLE'), 1);
  assert.is(await rig.metric('groupcast_rejected_total', unframeable), before + 1);
});

test('one source address holds at most udpRegistrationsPerIp registrations; a peer elsewhere still registers', async () => {
  await rig.restart({ maxMembersPerGroup: 100, udpRegistrationsPerIp: 8 });
  const udp = rig.sc.addresses.udp as string;
  // 127.0.0.2 stands for another machine flooding the group with registrations of every port.
  const flooder = rig.track(await UdpPeer.open('127.0.0.2'));
  for (let port = 20_000; port < 20_500; port++) {
    await flooder.send(udp, `SOCKETFORWARDER-NEW:${port}`);
    if (port % 100 === 0) await sleep(1);
  }
  await waitFor(
    () => (rig.sc.hub.stats.rejected.get('TOO_MANY_FROM_ADDRESS') ?? 0) >= 492,
    5000,
    'the flood to be counted',
  );
  assert.is(rig.count('udp', 'udp'), 8, 'the flooder holds 8 registrations, not the group');
  const peer = await rig.udp();
  const sender = await rig.udp(false);
  await sender.send(udp, 'still here');
  assert.equal(await peer.waitForCount(1), ['still here']);
});

test('datagrams sent a second are bounded for the UDP group; the rest are dropped and counted', async () => {
  await rig.restart({ udpSendRate: 1000 });
  const peers: UdpPeer[] = [];
  for (let i = 0; i < 10; i++) peers.push(await rig.udp());
  const sender = await rig.udp(false);
  const started = Date.now();
  for (let i = 0; i < 500; i++) await sender.send(rig.sc.addresses.udp as string, `m${i}`);
  await sleep(200);
  const seconds = (Date.now() - started) / 1000;
  const received = peers.reduce((n, p) => n + p.received.length, 0);
  const dropped = rig.sc.hub.stats.dropped.get('udp_send_rate') ?? 0;
  // 500 in x 10 members would be 5,000 out: the bucket allows a burst of 100 and 1,000 a second.
  assert.ok(received <= 100 + 1000 * seconds + 50, `${received} sent in ${seconds.toFixed(2)} s`);
  assert.ok(received > 0, 'some were sent');
  assert.is(received + dropped, 5000, `${received} received, ${dropped} dropped`);
});

test.run();
