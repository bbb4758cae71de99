import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Sidecar } from '../../sidecar/server.ts';
import { baseUrl, getJson, post } from '../helpers/http.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';
import { UdpPeer } from '../helpers/udp.ts';

let sc: Sidecar;
const open: { close(): void }[] = [];

test.before(async () => {
  sc = await startTestSidecar({ historyMessages: 2 });
});
test.after(async () => {
  for (const p of open.splice(0)) p.close();
  await sc.close();
});

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

test('listings and metrics reflect the members and traffic there really are', async () => {
  const a = await TcpPeer.open(sc.addresses.tcp as string, 'udp');
  const b = await TcpPeer.open(sc.addresses.tcp as string, 'udp');
  const u = await UdpPeer.open();
  const s = await SseClient.open(`${baseUrl(sc)}/groups/udp/events`);
  const other = await TcpPeer.open(sc.addresses.tcp as string, 'other');
  open.push(a, b, u, s, other);
  await u.register(sc.addresses.udp as string);
  await waitFor(() => {
    const c = sc.hub.findGroup('udp')?.counts;
    return c?.tcp === 2 && c.udp === 1 && c.sse === 1;
  });
  a.write('one\ntwo\nthree\n');
  await b.waitForText('three\n');
  await s.waitForMessages(3);

  const list = await getJson(sc, '/groups');
  assert.is(list.status, 200);
  const udp = list.json.groups.find((g: { group: string }) => g.group === 'udp');
  assert.equal(udp.counts, { tcp: 2, udp: 1, sse: 1, resp: 0 });
  assert.is(udp.lastId, s.messages()[2].id);
  assert.ok(list.json.groups.some((g: { group: string }) => g.group === 'other'));

  const one = await getJson(sc, '/groups/udp');
  assert.is(one.status, 200);
  assert.is(one.json.group, 'udp');
  assert.equal(one.json.counts, { tcp: 2, udp: 1, sse: 1, resp: 0 });
  assert.is(one.json.members.length, 4);
  for (const m of one.json.members) {
    assert.ok(['tcp', 'udp', 'sse'].includes(m.transport));
    assert.match(m.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(!Number.isNaN(Date.parse(m.joinedAt)));
    assert.type(m.pendingBytes, 'number');
  }
  assert.ok(one.json.members.some((m: { remote: string }) => m.remote === `127.0.0.1:${u.port}`));
  assert.is(one.json.history.messages, 2, 'the window holds the last 2');
  assert.is(one.json.history.lastId, udp.lastId);
  assert.is(one.json.counters.messagesIn, 3);

  const text = await (await fetch(`${baseUrl(sc)}/metrics`)).text();
  assert.is(metric(text, 'groupcast_connections', 'transport="tcp"'), 3);
  assert.is(metric(text, 'groupcast_connections', 'transport="sse"'), 1);
  assert.is(metric(text, 'groupcast_members', 'transport="udp"'), 1);
  assert.is(metric(text, 'groupcast_groups'), 2);
  assert.is(metric(text, 'groupcast_messages_in_total', 'transport="tcp"'), 3);
  assert.is(metric(text, 'groupcast_bytes_in_total', 'transport="tcp"'), 11);
  assert.is(metric(text, 'groupcast_messages_out_total', 'transport="udp"'), 3);
  assert.is(metric(text, 'groupcast_messages_out_total', 'transport="sse"'), 3);
  assert.is(metric(text, 'groupcast_history_messages'), 2);
  assert.ok(text.includes('groupcast_process_resident_memory_bytes'));
});

test('rejections are counted by reason in metrics', async () => {
  await post(sc, 'bad id', 'x');
  const bad = await TcpPeer.open(sc.addresses.tcp as string);
  open.push(bad);
  bad.write('NOPE\n');
  await bad.waitClosed();
  const text = await (await fetch(`${baseUrl(sc)}/metrics`)).text();
  assert.is(metric(text, 'groupcast_rejected_total', 'reason="BAD_JOIN"'), 1);
});

test('healthz reports each listener', async () => {
  const h = await getJson(sc, '/healthz');
  assert.is(h.status, 200);
  assert.is(h.json.status, 'ok');
  for (const l of ['tcp', 'udp', 'http']) {
    assert.ok(h.json.listeners[l].listening, l);
    assert.match(h.json.listeners[l].address, /^127\.0\.0\.1:\d+$/);
  }
});

test('healthz names this node; with no Redis the backplane is in memory and strict mode changes nothing', async () => {
  const h = await getJson(sc, '/healthz');
  assert.type(h.json.node, 'string');
  assert.ok(h.json.node.length > 0);
  assert.equal(h.json.backplane, { kind: 'memory' });
  const named = await startTestSidecar({ nodeId: 'edge-7', healthStrict: true });
  try {
    const n = await getJson(named, '/healthz');
    assert.is(n.status, 200);
    assert.is(n.json.node, 'edge-7');
    const t = await TcpPeer.open(named.addresses.tcp as string, 'tagged');
    await waitFor(() => named.hub.findGroup('tagged')?.size === 1);
    const detail = await getJson(named, '/groups/tagged');
    assert.is(detail.json.members[0].node, 'edge-7');
    t.close();
  } finally {
    await named.close();
  }
});

test('an SSE subscriber leaves the listing when its stream ends', async () => {
  const s = await SseClient.open(`${baseUrl(sc)}/groups/watch/events`);
  await waitFor(() => sc.hub.findGroup('watch')?.counts.sse === 1);
  assert.is((await getJson(sc, '/groups/watch')).json.counts.sse, 1);
  s.close();
  await waitFor(() => sc.hub.findGroup('watch') === undefined, 2000, 'group gone');
  assert.is((await getJson(sc, '/groups/watch')).status, 404);
});

test('GET /groups/:group/messages pages through history, with gaps and binary as base64', async () => {
  await post(sc, 'hist', 'first');
  await post(sc, 'hist', new Uint8Array([0xff, 0x00]));
  await post(sc, 'hist', 'third');
  // historyMessages is 2 in this suite: 'first' is evicted.
  const all = await getJson(sc, '/groups/hist/messages');
  assert.is(all.status, 200);
  assert.equal(
    all.json.messages.map((m: { encoding: string; data: string }) => [m.encoding, m.data]),
    [
      ['base64', '/wA='],
      ['utf8', 'third'],
    ],
  );
  assert.is(all.json.gap, null);
  assert.is(all.json.more, false);
  const lastId = all.json.lastId;
  const one = await getJson(sc, '/groups/hist/messages?limit=1');
  assert.is(one.json.messages.length, 1);
  assert.is(one.json.more, true);
  const next = await getJson(sc, `/groups/hist/messages?after=${one.json.messages[0].id}`);
  assert.equal(
    next.json.messages.map((m: { id: string }) => m.id),
    [lastId],
  );
  const first = lastId.replace(/-\d+$/, '-1');
  const gap = await getJson(sc, `/groups/hist/messages?after=${first.replace(/-1$/, '-0')}`);
  assert.is(gap.json.gap.reason, 'evicted');
  assert.is((await getJson(sc, '/groups/none-such/messages')).status, 404);
});

test.run();
