import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveSidecarOptions } from '../../shared/options/sidecar.ts';
import { exposureWarnings } from '../../sidecar/serve.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { sleep, waitFor } from '../helpers/sidecar.ts';
import { UdpPeer } from '../helpers/udp.ts';

const rig = new SidecarRig(test);

test('join secrets: a matching group needs `<group> <secret>`; others join plainly', async () => {
  await rig.restart({ joinSecrets: [{ pattern: 'vip*', secret: 'opensesame' }] });
  const unauthorized = { reason: 'UNAUTHORIZED' };
  const before = await rig.metric('groupcast_rejected_total', unauthorized);
  const missing = await rig.raw('SOCKETFORWARDER-NEW:vip-lounge\n');
  const wrong = await rig.raw('SOCKETFORWARDER-NEW:vip-lounge opensesamf\n');
  for (const p of [missing, wrong]) {
    await p.waitClosed();
    assert.match(p.text, /^ERROR UNAUTHORIZED wrong or missing join secret/);
  }
  const right = await rig.raw('SOCKETFORWARDER-NEW:vip-lounge opensesame\r\n');
  const legacy = await rig.raw('SOCKETFORWARDER-NEW:vip-lounge opensesame');
  const plain = await rig.raw('SOCKETFORWARDER-NEW:lobby\n');
  await waitFor(
    () =>
      rig.sc.hub.findGroup('vip-lounge')?.counts.tcp === 2 &&
      rig.sc.hub.findGroup('lobby')?.counts.tcp === 1,
  );
  right.write('inside\n');
  await legacy.waitForText('inside\n');
  assert.is(plain.closed, false);
  assert.is(rig.sc.hub.stats.rejected.get('UNAUTHORIZED'), 2);
  assert.is(await rig.metric('groupcast_rejected_total', unauthorized), before + 2);
});

// Each of these would pass a comparison by prefix (either way round), or by length alone.
for (const [name, given] of [
  ['the secret plus extra characters', 'opensesame!'],
  ['the secret doubled', 'opensesameopensesame'],
  ['a proper prefix of the secret', 'opensesam'],
  ['one character of the secret', 'o'],
  ['an empty secret (a bare trailing space)', ''],
] as const) {
  test(`join secrets: ${name} is refused with ERROR UNAUTHORIZED, and counted`, async () => {
    await rig.restart({ joinSecrets: [{ pattern: 'vip*', secret: 'opensesame' }] });
    const unauthorized = { reason: 'UNAUTHORIZED' };
    const before = await rig.metric('groupcast_rejected_total', unauthorized);
    const p = await rig.raw(`SOCKETFORWARDER-NEW:vip-lounge ${given}\n`);
    await p.waitClosed();
    assert.match(
      p.text,
      /^ERROR UNAUTHORIZED wrong or missing join secret for group "vip-lounge"\n$/,
    );
    assert.is(rig.sc.hub.findGroup('vip-lounge')?.counts.tcp ?? 0, 0, 'not a member');
    assert.is(await rig.metric('groupcast_rejected_total', unauthorized), before + 1);
  });
}

test('the TCP allowlist refuses other addresses with ERROR ADDRESS_NOT_ALLOWED', async () => {
  await rig.restart({ tcpAllow: ['10.0.0.0/8'] });
  const refused = { reason: 'ADDRESS_NOT_ALLOWED' };
  const before = await rig.metric('groupcast_rejected_total', refused);
  const p = await rig.raw();
  await p.waitClosed();
  assert.match(p.text, /^ERROR ADDRESS_NOT_ALLOWED /);
  assert.is(await rig.metric('groupcast_rejected_total', refused), before + 1);
  await rig.restart({ tcpAllow: ['127.0.0.1/32', '::1'] });
  const ok = await rig.raw('SOCKETFORWARDER-NEW:g\n');
  await waitFor(() => rig.sc.hub.findGroup('g')?.counts.tcp === 1);
  assert.is(ok.closed, false);
});

test('connections per IP are limited with ERROR TOO_MANY_FROM_ADDRESS', async () => {
  await rig.restart({ maxConnectionsPerIp: 2 });
  const refused = { reason: 'TOO_MANY_FROM_ADDRESS' };
  const before = await rig.metric('groupcast_rejected_total', refused);
  await rig.raw();
  await rig.raw();
  await waitFor(() => rig.sc.hub.connections.tcp === 2);
  const third = await rig.raw();
  await third.waitClosed();
  assert.match(third.text, /^ERROR TOO_MANY_FROM_ADDRESS /);
  assert.is(await rig.metric('groupcast_rejected_total', refused), before + 1);
});

test('past the rate limit, messages are dropped and counted (drop)', async () => {
  await rig.restart({ rateLimit: 50, rateBurst: 50 });
  const rateLimited = { reason: 'rate_limited' };
  const before = await rig.metric('groupcast_dropped_total', rateLimited);
  const sender = await rig.raw('SOCKETFORWARDER-NEW:r\n');
  const receiver = await rig.raw('SOCKETFORWARDER-NEW:r\n');
  await waitFor(() => rig.sc.hub.findGroup('r')?.counts.tcp === 2);
  for (let i = 0; i < 300; i++) {
    sender.write(`m${i}\n`);
    await new Promise((r) => setImmediate(r));
  }
  await sleep(200);
  const got = receiver.text.split('\n').filter(Boolean);
  assert.ok(got.length >= 50 && got.length < 150, `received ${got.length}`);
  assert.is(got[0], 'm0', 'the first messages pass');
  const dropped = rig.sc.hub.stats.dropped.get('rate_limited') ?? 0;
  assert.ok(dropped >= 150);
  assert.is(await rig.metric('groupcast_dropped_total', rateLimited), before + dropped);
  assert.ok((await rig.metric('groupcast_rejected_total', { reason: 'RATE_LIMITED' })) >= 1);
  assert.is(sender.closed, false);
});

test('past the rate limit, the member is disconnected (disconnect)', async () => {
  await rig.restart({ rateLimit: 10, rateBurst: 10, rateLimitAction: 'disconnect' });
  const rateLimited = { reason: 'RATE_LIMITED' };
  const before = await rig.metric('groupcast_rejected_total', rateLimited);
  const sender = await rig.raw('SOCKETFORWARDER-NEW:r\n');
  await waitFor(() => rig.sc.hub.findGroup('r')?.counts.tcp === 1);
  for (let i = 0; i < 100 && !sender.closed; i++) {
    sender.write(`m${i}\n`);
    await sleep(1);
  }
  await sender.waitClosed();
  assert.match(sender.text, /^ERROR RATE_LIMITED /);
  assert.is(await rig.metric('groupcast_rejected_total', rateLimited), before + 1);
});

test('the UDP allowlist ignores datagrams (and registrations) from other addresses', async () => {
  await rig.restart({ udpAllow: ['10.0.0.0/8'] });
  const p = await rig.udp(false);
  await p.register(rig.sc.addresses.udp as string);
  await p.send(rig.sc.addresses.udp as string, 'hello');
  await waitFor(() => rig.sc.hub.stats.rejected.get('ADDRESS_NOT_ALLOWED') === 2);
  assert.is(rig.sc.hub.findGroup('udp'), undefined);
  assert.is(await rig.metric('groupcast_rejected_total', { reason: 'ADDRESS_NOT_ALLOWED' }), 2);
});

test('registered-only UDP drops datagrams from IPs without a registration', async () => {
  const other = await UdpPeer.open();
  await rig.restart({ udpRegisteredOnly: true, udpPreconfig: [] });
  rig.track(other);
  const member = await rig.udp(false);
  await member.register(rig.sc.addresses.udp as string);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.udp === 1);
  // Both peers are on 127.0.0.1, so a registration by one admits the other: the rule is per IP.
  await other.send(rig.sc.addresses.udp as string, 'same-ip');
  assert.equal(await member.waitForCount(1), ['same-ip']);
  await rig.restart({ udpRegisteredOnly: true });
  const stranger = await rig.udp(false);
  await stranger.send(rig.sc.addresses.udp as string, 'flood');
  await waitFor(() => rig.sc.hub.stats.rejected.get('UNREGISTERED') === 1);
  assert.is(rig.sc.hub.findGroup('udp')?.seq ?? 0, 0);
  assert.is(await rig.metric('groupcast_rejected_total', { reason: 'UNREGISTERED' }), 1);
});

test('UDP registrations expire after their TTL unless refreshed', async () => {
  await rig.restart({ udpRegistrationTtlMs: 300 });
  const stale = await rig.udp(false);
  const fresh = await rig.udp(false);
  await stale.register(rig.sc.addresses.udp as string);
  await fresh.register(rig.sc.addresses.udp as string);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.udp === 2);
  const refresher = setInterval(() => fresh.register(rig.sc.addresses.udp as string), 100);
  try {
    await waitFor(
      () => rig.sc.hub.findGroup('udp')?.counts.udp === 1,
      3000,
      'the stale registration to expire',
    );
    await sleep(400);
    assert.is(rig.sc.hub.findGroup('udp')?.counts.udp, 1, 'the refreshed one stays');
  } finally {
    clearInterval(refresher);
  }
});

test('binding beyond loopback without protection logs security warnings', () => {
  const base = resolveSidecarOptions({}, []).options;
  assert.equal(exposureWarnings(base), [], 'loopback: no warning');
  const exposed = exposureWarnings({ ...base, host: '0.0.0.0' });
  assert.is(exposed.length, 4);
  assert.ok(exposed.every((w) => w.startsWith('SECURITY WARNING')));
  const guarded = exposureWarnings({
    ...base,
    host: '0.0.0.0',
    jwtSecret: 's',
    joinSecrets: [{ pattern: '*', secret: 'x' }],
    udpRegisteredOnly: true,
  });
  assert.equal(guarded, []);
});

test.run();
