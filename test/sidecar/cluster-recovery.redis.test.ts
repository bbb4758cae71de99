import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseId } from '../../shared/message.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { auditLines, auditSse, describeAudit, Traffic } from '../helpers/audit.ts';
import { inspector, metricMatch, waitListening } from '../helpers/cluster.ts';
import { baseUrl, post } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

// Redis stays up; what breaks is one node's pub/sub connection, or Redis's pace.
const redis = await startRedis();
const look = inspector(redis.url);
const common: Partial<SidecarOptions> = {
  redisUrl: redis.url,
  historyMessages: 50,
  nodeHeartbeatMs: 100,
  nodeExpiryMs: 1000,
};
const A = await startTestSidecar({ ...common, nodeId: 'node-a', redisQueueBytes: 64 * 1024 });
const B = await startTestSidecar({ ...common, nodeId: 'node-b' });
const open: { close(): void }[] = [];

test.after(async () => {
  for (const x of open.splice(0)) x.close();
  await Promise.all([A.close(), B.close()]);
  look.disconnect();
  await redis.stop();
});

async function tcp(sc: Sidecar, group: string): Promise<TcpPeer> {
  const p = await TcpPeer.open(sc.addresses.tcp as string, group);
  open.push(p);
  return p;
}

const metric = metricMatch;

/** Drops node B's pub/sub connection the way a network blip or Redis's buffer limit would. */
async function killSubscriberOfB(): Promise<void> {
  const list = (await look.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes('name=groupcast-node-b-sub'));
  const id = /id=(\d+)/.exec(line ?? '')?.[1];
  assert.ok(id, 'the subscriber connection of node B');
  await look.client('KILL', 'ID', id as string);
}

/** A TCP member on A and one on B, an SSE subscriber on B, both nodes listening to the group. */
async function memberOnEachNodeAndWatcherOnB(group: string) {
  const a1 = await tcp(A, group);
  const b1 = await tcp(B, group);
  const events = await SseClient.open(`${baseUrl(B)}/groups/${group}/events`);
  open.push(events);
  await waitFor(() => B.hub.findGroup(group)?.counts.sse === 1, 2000, 'sse on B');
  await waitListening(look, group, 2);
  return { a1, b1, events };
}

const lines = (from: number, to: number, prefix = 'm') =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}\n`).join('');

test('a node whose pub/sub connection drops reads what it missed back from the shared history, in order', async () => {
  const group = 'blip';
  const { a1, b1, events } = await memberOnEachNodeAndWatcherOnB(group);
  a1.write(lines(0, 10));
  await b1.waitForText('m9\n');
  const holesBefore = await metric(B, /kind="holes"\} (\d+)/);
  await killSubscriberOfB();
  // Published while B is not listening: B learns of it from the next batch it does get.
  a1.write(lines(10, 30));
  await waitListening(look, group, 2);
  a1.write(lines(30, 31));
  await b1.waitForText('m30\n');
  assert.is(b1.text, lines(0, 31), 'everything, once, in order');
  const got = await events.waitForMessages(31);
  assert.equal(
    got.map((m) => m.data),
    lines(0, 31).split('\n').slice(0, -1),
  );
  const seqs = got.map((m) => parseId(m.id ?? '')?.seq ?? 0);
  assert.ok(
    seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1),
    'contiguous ids',
  );
  assert.not.ok(events.events.some((e) => e.event === 'gap'));
  assert.ok((await metric(B, /kind="holes"\} (\d+)/)) > holesBefore, 'counted as a hole');
});

test('what the shared history no longer holds is counted as lost, and SSE subscribers get a gap', async () => {
  const group = 'longblip';
  const { a1, b1, events } = await memberOnEachNodeAndWatcherOnB(group);
  a1.write(lines(0, 5));
  await b1.waitForText('m4\n');
  const lostBefore = await metric(B, /kind="lost"\} (\d+)/);
  await killSubscriberOfB();
  // More than the history holds (50), one line a batch.
  for (let i = 5; i < 85; i++) {
    a1.write(lines(i, i + 1));
    await sleep(0);
  }
  await waitListening(look, group, 2);
  a1.write(lines(85, 86));
  await b1.waitForText('m85\n');
  const got = b1.text.split('\n').slice(0, -1);
  assert.equal(got.slice(0, 5), ['m0', 'm1', 'm2', 'm3', 'm4']);
  const rest = got.slice(5).map((l) => Number(l.slice(1)));
  assert.ok(
    rest.every((n, i) => i === 0 || n === rest[i - 1] + 1),
    'in order, no duplicates',
  );
  assert.is(rest[rest.length - 1], 85);
  assert.ok(rest[0] > 5, 'the oldest missed messages are gone');
  const gap = await events.waitForEvent('gap');
  assert.is(JSON.parse(gap.data).reason, 'evicted');
  assert.ok((await metric(B, /kind="lost"\} (\d+)/)) >= lostBefore + rest[0] - 5);
});

test('a full queue toward Redis never slows local members: what does not fit is not shared, counted, and POST answers 503', async () => {
  const group = 'paused';
  const a1 = await tcp(A, group);
  const a2 = await tcp(A, group);
  const b1 = await tcp(B, group);
  await waitListening(look, group, 2);
  // Redis holds every write for a while: nothing queued toward it is answered meanwhile.
  await look.client('PAUSE', '1500', 'WRITE');
  const big = lines(0, 4000, 'x'.repeat(90));
  a1.write(big);
  await a2.waitForBytes(big.length, 1000);
  assert.is(a2.text, big, 'local members got everything while Redis was paused');
  // Past what the queue has left (an empty queue would take it: it is not empty).
  const full = await post(A, group, `refused${'r'.repeat(20_000)}`);
  assert.is(full.status, 503);
  assert.is(full.json.error.code, 'BACKPLANE_BUSY');
  assert.ok(
    (await metric(A, /unshared_messages_total\{reason="queue_full"\} (\d+)/)) > 0,
    'counted as queue_full',
  );
  await sleep(1600);
  a1.write('after\n');
  await b1.waitForText('after\n', 5000);
  const got = b1.text.split('\n').slice(0, -1);
  assert.ok(got.length < 4001, 'what did not fit was not shared');
  const nums = got.slice(0, -1).map((l) => Number(l.slice(90)));
  assert.ok(
    nums.every((n, i) => i === 0 || n > nums[i - 1]),
    'what was shared came in order',
  );
  assert.not.ok(a2.text.includes('refused'), 'the refused POST published nothing');
});

test('messages a full queue could not share reach every SSE subscriber, on every node, as a gap in their place', async () => {
  const group = 'overflow';
  const pub = await tcp(A, group);
  const a2 = await tcp(A, group);
  const b1 = await tcp(B, group);
  const aSse = await SseClient.open(`${baseUrl(A)}/groups/${group}/events`);
  const bSse = await SseClient.open(`${baseUrl(B)}/groups/${group}/events`);
  open.push(aSse, bSse);
  await waitFor(() => A.hub.findGroup(group)?.counts.sse === 1, 2000, 'sse on A');
  await waitFor(() => B.hub.findGroup(group)?.counts.sse === 1, 2000, 'sse on B');
  await waitListening(look, group, 2);
  const fullBefore = await metric(A, /unshared_messages_total\{reason="queue_full"\} (\d+)/);
  // 1 KiB lines, 500 KiB/s for 2.5 s; Redis frozen 1.5 s of it (less than a command may wait):
  // A's queue toward Redis (64 KiB) fills within a few hundred ms.
  const pad = 'x'.repeat(1000);
  const traffic = new Traffic((t) => pub.write(t.replaceAll('\n', `${pad}\n`)), 'q', 5, 10, 2500);
  await sleep(500);
  process.kill(redis.pid, 'SIGSTOP');
  await sleep(1500);
  process.kill(redis.pid, 'SIGCONT');
  await traffic.done;
  const sent = traffic.sent;
  pub.write('end\n');
  await a2.waitForText('end\n', 5000);
  await b1.waitForText('end\n', 8000);
  await waitFor(() => aSse.data().includes('end'), 8000, 'end on A (SSE)');
  await waitFor(() => bSse.data().includes('end'), 8000, 'end on B (SSE)');
  const full =
    (await metric(A, /unshared_messages_total\{reason="queue_full"\} (\d+)/)) - fullBefore;
  assert.ok(full > 0, 'the queue was full');
  const local = auditLines(a2.text, 'q', sent);
  assert.equal(local.lost, [], describeAudit('A TCP', local));
  for (const [name, c] of [
    ['A SSE', aSse],
    ['B SSE', bSse],
  ] as const) {
    const a = auditSse(c.events, 'q', sent);
    const why = describeAudit(name, a);
    assert.equal(a.duplicated, [], why);
    assert.equal(a.reordered, [], why);
    assert.equal(a.silent, [], `${why}: every missing stretch announced`);
    assert.equal(a.untrue, [], why);
    assert.is(a.lost.length, full, `${why}: missing what was not shared`);
    assert.ok(
      a.gaps.every((g) => g.reason === 'evicted'),
      why,
    );
    assert.is(
      a.gaps.reduce((n, g) => n + g.missing, 0),
      full,
      `${why}: the gaps account for every missing message`,
    );
  }
  const onB = auditLines(b1.text, 'q', sent);
  assert.equal(onB.duplicated, [], describeAudit('B TCP', onB));
  assert.equal(onB.reordered, [], describeAudit('B TCP', onB));
  assert.is(onB.lost.length, full, describeAudit('B TCP', onB));
  console.log(
    `  measured: sent ${sent} (1 KiB each); not shared (queue_full) ${full}; gap events on A ${auditSse(aSse.events, 'q', sent).gaps.length}, on B ${auditSse(bSse.events, 'q', sent).gaps.length}`,
  );
});

test.run();
