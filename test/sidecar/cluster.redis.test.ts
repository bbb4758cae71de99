import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseId } from '../../shared/message.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { inspector, waitListening } from '../helpers/cluster.ts';
import { baseUrl, getJson, post } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';
import { UdpPeer } from '../helpers/udp.ts';

// Two real sidecars in this process sharing groups over a real redis-server.
const redis = await startRedis();
const look = inspector(redis.url);
const common: Partial<SidecarOptions> = {
  redisUrl: redis.url,
  historyMessages: 20,
  nodeHeartbeatMs: 100,
  nodeExpiryMs: 1000,
};
const A = await startTestSidecar({ ...common, nodeId: 'node-a' });
const B = await startTestSidecar({ ...common, nodeId: 'node-b' });
const open: { close(): void }[] = [];

function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}

async function tcp(sc: Sidecar, group: string): Promise<TcpPeer> {
  const before = sc.hub.findGroup(group)?.counts.tcp ?? 0;
  const p = track(await TcpPeer.open(sc.addresses.tcp as string, group));
  await waitFor(() => sc.hub.findGroup(group)?.counts.tcp === before + 1, 2000, 'tcp join');
  return p;
}

async function sse(
  sc: Sidecar,
  group: string,
  headers: Record<string, string> = {},
  query = '',
): Promise<SseClient> {
  const before = sc.hub.findGroup(group)?.counts.sse ?? 0;
  const c = track(
    await SseClient.open(
      `${baseUrl(sc)}/groups/${encodeURIComponent(group)}/events${query}`,
      headers,
    ),
  );
  await waitFor(() => sc.hub.findGroup(group)?.counts.sse === before + 1, 2000, 'sse join');
  return c;
}

function seqs(ids: (string | undefined)[]): number[] {
  return ids.map((id) => parseId(id ?? '')?.seq ?? -1);
}

function contiguous(ids: (string | undefined)[]): boolean {
  const parsed = ids.map((id) => parseId(id ?? ''));
  return parsed.every(
    (p, i) =>
      p && (i === 0 || (p.epoch === parsed[0]?.epoch && p.seq === (parsed[i - 1]?.seq ?? 0) + 1)),
  );
}

test.after.each(async () => {
  for (const x of open.splice(0)) x.close();
  // UDP registrations have no end; TCP and SSE members go with their connections.
  const empty = (sc: Sidecar) =>
    [...sc.hub.allGroups()].every((g) => g.counts.tcp === 0 && g.counts.sse === 0);
  await waitFor(() => empty(A) && empty(B), 3000, 'members of the last test to leave');
});

test.after(async () => {
  await Promise.all([A.close(), B.close()]);
  look.disconnect();
  await redis.stop();
});

test('TCP on node A reaches TCP, UDP and SSE members on node B, and never its sender', async () => {
  // The UDP group is a group like any other: TCP members of it bridge to UDP peers.
  const group = 'udp';
  const sender = await tcp(A, group);
  const localPeer = await tcp(A, group);
  const remotePeer = await tcp(B, group);
  const udp = track(await UdpPeer.open());
  await udp.register(B.addresses.udp as string);
  await waitFor(() => B.hub.findGroup(group)?.counts.udp === 1, 2000, 'udp registration');
  const events = await sse(B, group);
  await waitListening(look, group, 2);
  sender.write('one\ntwo\n');
  await remotePeer.waitForText('one\ntwo\n');
  await localPeer.waitForText('one\ntwo\n');
  assert.equal(await udp.waitForCount(2), ['one', 'two']);
  const msgs = await events.waitForMessages(2);
  assert.equal(
    msgs.map((m) => m.data),
    ['one', 'two'],
  );
  assert.ok(contiguous(msgs.map((m) => m.id)), 'ids contiguous');
  await sleep(100);
  assert.is(remotePeer.text, 'one\ntwo\n', 'exactly once, byte for byte');
  assert.is(sender.received, 0, 'the sender gets nothing back');
});

test('UDP on node B reaches a TCP member on node A', async () => {
  const group = 'udp';
  const onA = await tcp(A, group);
  await waitListening(look, group, 2);
  const udp = track(await UdpPeer.open());
  await udp.send(B.addresses.udp as string, 'from udp');
  await onA.waitForText('from udp\n');
});

test('POST to node B reaches TCP on node A; the ids it answers are the cluster ids', async () => {
  const group = 'posted';
  const onA = await tcp(A, group);
  const events = await sse(A, group);
  await waitListening(look, group, 1);
  const res = await post(B, group, '{"n":1}\n{"n":2}\n', {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(res.status, 202);
  await onA.waitForText('{"n":1}\n{"n":2}\n');
  const msgs = await events.waitForMessages(2);
  assert.equal(
    res.json.ids,
    msgs.map((m) => m.id),
  );
  assert.ok(contiguous(res.json.ids));
});

test('a message is never echoed to a sender on its own node, also when its batch comes back from Redis', async () => {
  const group = 'echo';
  const a1 = await tcp(A, group);
  const a2 = await tcp(A, group);
  const b1 = await tcp(B, group);
  await waitListening(look, group, 2);
  for (let i = 0; i < 50; i++) a1.write(`a${i}\n`);
  await b1.waitForText('a49\n');
  await a2.waitForText('a49\n');
  await sleep(150);
  assert.is(a1.received, 0);
  assert.is(a2.text.split('\n').length - 1, 50, 'once each on the same node');
  assert.is(b1.text.split('\n').length - 1, 50, 'once each on the other node');
});

test('replay across nodes: a Last-Event-ID from node A resumes exactly on node B', async () => {
  const group = 'replay';
  const pub = await tcp(A, group);
  const onA = await sse(A, group);
  await waitListening(look, group, 1);
  for (let i = 0; i < 10; i++) pub.write(`m${i}\n`);
  const seen = await onA.waitForMessages(10);
  const resumed = await sse(B, group, { 'Last-Event-ID': seen[4].id as string });
  const got = await resumed.waitForMessages(5);
  assert.equal(
    got.map((m) => m.data),
    ['m5', 'm6', 'm7', 'm8', 'm9'],
  );
  assert.equal(
    got.map((m) => m.id),
    seen.slice(5).map((m) => m.id),
  );
  assert.not.ok(resumed.events.some((e) => e.event === 'gap'));
  // Then live, with no duplicate and no hole between the replay and live messages.
  pub.write('live\n');
  const all = await resumed.waitForMessages(6);
  assert.is(all[5].data, 'live');
  assert.ok(contiguous(all.map((m) => m.id)));
});

test('an evicted id gets event: gap on the other node, then everything still held', async () => {
  const group = 'evicted';
  const pub = await tcp(A, group);
  const onA = await sse(A, group);
  await waitListening(look, group, 1);
  for (let i = 0; i < 30; i++) pub.write(`e${i}\n`);
  const seen = await onA.waitForMessages(30);
  const c = await sse(B, group, { 'Last-Event-ID': seen[0].id as string });
  const gap = await c.waitForEvent('gap');
  assert.equal(JSON.parse(gap.data), {
    requested: seen[0].id,
    resumedFrom: seen[10].id,
    reason: 'evicted',
  });
  const got = await c.waitForMessages(20);
  assert.equal(
    got.map((m) => m.data),
    seen.slice(10).map((m) => m.data),
  );
  // The history endpoint of node B reads the same shared window.
  const page = await getJson(B, `/groups/${group}/messages?after=${seen[0].id}&limit=5`);
  assert.is(page.status, 200);
  assert.is(page.json.gap.reason, 'evicted');
  assert.equal(
    page.json.messages.map((m: { data: string }) => m.data),
    ['e10', 'e11', 'e12', 'e13', 'e14'],
  );
  assert.is(page.json.more, true);
  assert.is(page.json.lastId, seen[29].id);
  const earliest = await sse(B, group, {}, '?from=earliest');
  assert.is((await earliest.waitForMessages(20))[0].data, 'e10');
  const detail = await getJson(B, `/groups/${group}`);
  assert.equal(detail.json.history, {
    messages: 20,
    bytes: detail.json.history.bytes,
    firstId: seen[10].id,
    lastId: seen[29].id,
    maxMessages: 20,
    maxBytes: detail.json.history.maxBytes,
  });
});

test('an id from another sequence of the group gets a reset gap; an id never issued an unknown one', async () => {
  const group = 'seqs';
  const pub = await tcp(A, group);
  await waitListening(look, group, 1);
  pub.write('s0\ns1\n');
  await waitFor(async () => (await getJson(B, `/groups/${group}`)).json.lastId, 2000, 'lastId');
  const { lastId } = (await getJson(B, `/groups/${group}`)).json;
  const id = parseId(lastId);
  assert.ok(id);
  const reset = await sse(B, group, { 'Last-Event-ID': `${(id?.epoch ?? 0) - 1}-5` });
  assert.is(JSON.parse((await reset.waitForEvent('gap')).data).reason, 'reset');
  const unknown = await sse(B, group, { 'Last-Event-ID': `${id?.epoch}-${(id?.seq ?? 0) + 10}` });
  assert.is(JSON.parse((await unknown.waitForEvent('gap')).data).reason, 'unknown');
  assert.equal(
    (await unknown.waitForMessages(2)).map((m) => m.data),
    ['s0', 's1'],
  );
});

test('listings show the members of every node, each tagged with its node', async () => {
  const group = 'listed';
  const t = await tcp(A, group);
  await sse(B, group);
  await tcp(B, group);
  const list = async (sc: Sidecar) =>
    (await getJson(sc, '/groups')).json.groups.find((g: { group: string }) => g.group === group);
  const want = { tcp: 2, udp: 0, sse: 1, resp: 0 };
  await waitFor(
    async () => JSON.stringify((await list(A))?.counts) === JSON.stringify(want),
    3000,
    'counts on A',
  );
  await waitFor(
    async () => JSON.stringify((await list(B))?.counts) === JSON.stringify(want),
    3000,
    'counts on B',
  );
  const detail = (await getJson(A, `/groups/${group}`)).json;
  assert.equal(detail.counts, want);
  const nodes = detail.members
    .map((m: { transport: string; node: string }) => `${m.transport}@${m.node}`)
    .sort();
  assert.equal(nodes, ['sse@node-b', 'tcp@node-a', 'tcp@node-b']);
  for (const m of detail.members) {
    assert.type(m.id, 'string');
    assert.type(m.remote, 'string');
    assert.type(m.joinedAt, 'string');
    assert.type(m.pendingBytes, 'number');
  }
  // A member that leaves on node A leaves node B's listing too.
  t.close();
  await waitFor(
    async () => (await getJson(B, `/groups/${group}`)).json.counts.tcp === 1,
    3000,
    'the member to leave the listing on B',
  );
  assert.is((await getJson(B, '/groups/nowhere')).status, 404);
});

test('order per publisher across nodes, with thousands of messages from several publishers; SSE on either node gets the same ids', async () => {
  const group = 'order';
  const N = 3000;
  const pubs = [await tcp(A, group), await tcp(A, group), await tcp(B, group)];
  const recvA = await tcp(A, group);
  const recvB = await tcp(B, group);
  const sseA = await sse(A, group);
  const sseB = await sse(B, group);
  await waitListening(look, group, 2);
  // Interleaved, in uneven writes that split lines, as real senders do.
  const texts = pubs.map((_, p) => Array.from({ length: N }, (_, i) => `p${p}-${i}\n`).join(''));
  const at = [0, 0, 0];
  while (at.some((x, p) => x < texts[p].length)) {
    for (let p = 0; p < pubs.length; p++) {
      if (at[p] >= texts[p].length) continue;
      const n = 1 + Math.floor(Math.random() * 700);
      pubs[p].write(texts[p].slice(at[p], at[p] + n));
      at[p] += n;
    }
    await sleep(0);
  }
  const total = N * pubs.length;
  const check = (lines: string[], who: string) => {
    const next = [0, 0, 0];
    for (const line of lines) {
      const m = /^p(\d)-(\d+)$/.exec(line);
      assert.ok(m, `${who}: bad line ${line}`);
      const p = Number(m?.[1]);
      assert.is(Number(m?.[2]), next[p], `${who}: publisher ${p} in order`);
      next[p]++;
    }
    return next;
  };
  const bytes = texts.map((t) => t.length);
  await recvA.waitForBytes(
    texts.reduce((n, t) => n + t.length, 0),
    20_000,
  );
  await recvB.waitForBytes(
    texts.reduce((n, t) => n + t.length, 0),
    20_000,
  );
  assert.equal(check(recvA.text.split('\n').slice(0, -1), 'tcp on A'), [N, N, N]);
  assert.equal(check(recvB.text.split('\n').slice(0, -1), 'tcp on B'), [N, N, N]);
  const events = await sseB.waitForMessages(total, 20_000);
  assert.equal(
    check(
      events.map((e) => e.data),
      'sse on B',
    ),
    [N, N, N],
  );
  assert.ok(contiguous(events.map((e) => e.id)), 'cluster ids contiguous on B');
  // Node A publishes most of them: it takes its own from its outbox, not from the channel.
  const eventsA = await sseA.waitForMessages(total, 20_000);
  assert.equal(
    eventsA.map((e) => `${e.id} ${e.data}`),
    events.map((e) => `${e.id} ${e.data}`),
    'sse on A: the same ids and messages as on B',
  );
  // Each publisher gets the others' messages, in order, and never its own.
  for (let p = 0; p < pubs.length; p++) {
    const others = bytes.reduce((n, b, i) => (i === p ? n : n + b), 0);
    await pubs[p].waitForBytes(others, 20_000);
    const want = [N, N, N];
    want[p] = 0;
    assert.equal(check(pubs[p].text.split('\n').slice(0, -1), `publisher ${p}`), want);
  }
  assert.is(seqs([events[0].id])[0] + total - 1, seqs([events[total - 1].id])[0]);
});

test('healthz names the node and its backplane; metrics count what was shared and received', async () => {
  const h = (await getJson(A, '/healthz')).json;
  assert.is(h.status, 'ok');
  assert.is(h.node, 'node-a');
  assert.is(h.backplane.kind, 'redis');
  assert.is(h.backplane.connected, true);
  await waitFor(
    async () => (await getJson(A, '/healthz')).json.backplane.nodes === 2,
    2000,
    '2 nodes',
  );
  const text = await (await fetch(`${baseUrl(A)}/metrics`)).text();
  assert.match(text, /^groupcast_backplane_connected 1$/m);
  assert.match(text, /^groupcast_cluster_nodes 2$/m);
  const shared = Number(/^groupcast_backplane_shared_messages_total (\d+)$/m.exec(text)?.[1]);
  const received = Number(/^groupcast_backplane_received_messages_total (\d+)$/m.exec(text)?.[1]);
  assert.ok(shared > 6000, `shared ${shared}`);
  assert.ok(received > 3000, `received ${received}`);
});

test.run();
