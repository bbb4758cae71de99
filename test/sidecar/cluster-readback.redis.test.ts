import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseId } from '../../shared/message.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { type Audit, auditLines, auditSse, describeAudit, Traffic } from '../helpers/audit.ts';
import { inspector, joinSse, joinTcp, metricMatch, waitListening } from '../helpers/cluster.ts';
import { getJson } from '../helpers/http.ts';
import { TcpProxy } from '../helpers/proxy.ts';
import { startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';

// Node B reaches Redis through a proxy, so one of its two connections (commands, pub/sub) can be
// held down while the other works and Redis stays up for node A.
let redis = await startRedis();
const look = inspector(redis.url);
const proxy = await TcpProxy.open(`127.0.0.1:${redis.port}`);
const common: Partial<SidecarOptions> = {
  // Every message of a test stays in the shared history: what a node misses can be read back.
  historyMessages: 10_000,
  nodeHeartbeatMs: 100,
  nodeExpiryMs: 5000,
};
const A = await startTestSidecar({ ...common, redisUrl: redis.url, nodeId: 'node-a' });
const B = await startTestSidecar({
  ...common,
  redisUrl: `redis://${proxy.address}`,
  nodeId: 'node-b',
});
const open: { close(): void }[] = [];

/** Told apart by the name each connection gives itself first (CLIENT SETNAME). */
const subOfB = (first: string) => first.includes('groupcast-node-b-sub');
const cmdOfB = (first: string) => !subOfB(first);

test.after(async () => {
  for (const x of open.splice(0)) x.close();
  proxy.refuse(null);
  await Promise.all([A.close(), B.close()]);
  await proxy.close();
  look.disconnect();
  await redis.stop();
});

const tcp = (sc: Sidecar, group: string) => joinTcp(sc, group, open);

const sse = (sc: Sidecar, group: string) => joinSse(sc, group, open);

const metric = metricMatch;

async function healthy(sc: Sidecar): Promise<boolean> {
  return (await getJson(sc, '/healthz')).json.status === 'ok';
}

const LOST = /kind="lost"\} (\d+)/;
const isLocalId = (id: string | undefined) => (parseId(id ?? '')?.epoch ?? 0) > Date.now() * 10;

function clean(name: string, a: Audit): void {
  const why = describeAudit(name, a);
  assert.equal(a.duplicated, [], why);
  assert.equal(a.reordered, [], why);
  assert.equal(a.untrue, [], why);
  assert.equal(a.silent, [], why);
}

/** Drops B's pub/sub connection from Redis's side, as a network blip or its buffer limit would. */
async function killSubscriberOfB(): Promise<void> {
  const list = (await look.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes('name=groupcast-node-b-sub'));
  const id = /id=(\d+)/.exec(line ?? '')?.[1];
  assert.ok(id, 'the subscriber connection of node B');
  await look.client('KILL', 'ID', id as string);
}

test('B reads a hole back once its command connection is back: nothing lost, duplicated or reordered, no gap event', async () => {
  const group = 'cmdcut';
  const pub = await tcp(A, group);
  const b1 = await tcp(B, group);
  const bSse = await sse(B, group);
  await waitListening(look, group, 2);
  const lostBefore = await metric(B, LOST);
  const reconnectsBefore = await metric(B, /reconnects_total (\d+)/);
  // 1,000 messages a second for 3 s.
  const traffic = new Traffic((t) => pub.write(t), 'c', 10, 10, 3000);
  await sleep(500);
  proxy.refuse(cmdOfB);
  proxy.cut(cmdOfB);
  await sleep(100);
  await killSubscriberOfB();
  // The pub/sub connection comes back at once and finds a hole; commands stay down 1.5 s.
  await sleep(1500);
  proxy.refuse(null);
  await traffic.done;
  const sent = traffic.sent;
  await b1.waitForText(`c${sent - 1}\n`, 8000);
  await waitFor(() => bSse.data().includes(`c${sent - 1}`), 8000, 'the last message on B (SSE)');
  const tcpAudit = auditLines(b1.text, 'c', sent);
  const sseAudit = auditSse(bSse.events, 'c', sent);
  clean('B TCP', tcpAudit);
  clean('B SSE', sseAudit);
  assert.equal(tcpAudit.lost, [], describeAudit('B TCP', tcpAudit));
  assert.equal(sseAudit.lost, [], describeAudit('B SSE', sseAudit));
  assert.equal(sseAudit.gaps, [], 'no gap event: nothing was missing');
  assert.is(await metric(B, LOST), lostBefore, 'no loss counted');
  assert.ok(
    (await metric(B, /reconnects_total (\d+)/)) >= reconnectsBefore + 2,
    'both connections counted as reconnects',
  );
  const recovered = await metric(B, /recovered_messages_total (\d+)/);
  assert.ok(recovered > 0, 'the hole was read back');
  console.log(
    `  measured: sent ${sent}; B recovered ${recovered} by read-back, lost ${tcpAudit.lost.length}; read-backs ${await metric(B, /read_backs_total (\d+)/)}`,
  );
});

test('after Redis restarts empty, a node that resubscribes late reads the new sequence back from its first message', async () => {
  const group = 'restart';
  const pub = await tcp(A, group);
  const aSse = await sse(A, group);
  const b1 = await tcp(B, group);
  const bSse = await sse(B, group);
  await waitListening(look, group, 2);
  const traffic = new Traffic((t) => pub.write(t), 'r', 10, 10, 3500);
  await sleep(500);
  // B's pub/sub connection may not come back for 1.5 s; its command connection may.
  proxy.refuse(subOfB);
  await redis.stop('SIGKILL');
  redis = await startRedis(redis.port);
  await sleep(1500);
  proxy.refuse(null);
  await traffic.done;
  const sent = traffic.sent;
  await waitFor(async () => (await healthy(A)) && (await healthy(B)), 8000, 'both healthy');
  await waitListening(look, group, 2);
  pub.write('end\n');
  await b1.waitForText('end\n', 8000);
  await waitFor(() => bSse.data().includes('end'), 8000, 'end on B (SSE)');
  await waitFor(() => aSse.data().includes('end'), 8000, 'end on A (SSE)');
  // What A numbered alone while Redis was away never reached Redis: B cannot have it.
  const local = new Set(
    aSse
      .messages()
      .filter((m) => isLocalId(m.id))
      .map((m) => Number(m.data.slice(1))),
  );
  const tcpAudit = auditLines(b1.text, 'r', sent);
  const sseAudit = auditSse(bSse.events, 'r', sent);
  for (const [name, a] of [
    ['B TCP', tcpAudit],
    ['B SSE', sseAudit],
  ] as const) {
    const why = describeAudit(name, a);
    assert.equal(a.duplicated, [], why);
    assert.equal(a.reordered, [], why);
    assert.equal(a.untrue, [], why);
    assert.ok(
      a.lost.every((n) => local.has(n)),
      `${why}: lost only what A numbered alone (${local.size})`,
    );
  }
  // Its subscriber was told of the new sequence once, before its first message.
  assert.ok(
    sseAudit.gaps.some((g) => g.reason === 'reset'),
    JSON.stringify(sseAudit.gaps),
  );
  assert.ok(
    sseAudit.gaps.every((g) => g.reason === 'reset'),
    JSON.stringify(sseAudit.gaps),
  );
  const firstNew = bSse.messages().find((m) => {
    const id = parseId(m.id ?? '');
    return id && id.epoch > (parseId(bSse.messages()[0].id ?? '')?.epoch ?? 0);
  });
  assert.is(parseId(firstNew?.id ?? '')?.seq, 1, 'B delivered the new sequence from its first id');
  console.log(
    `  measured: sent ${sent}; A numbered ${local.size} alone; B lost ${tcpAudit.lost.length} (TCP), ${sseAudit.lost.length} (SSE); gaps on B ${JSON.stringify(sseAudit.gaps)}; B recovered ${await metric(B, /recovered_messages_total (\d+)/)}`,
  );
});

test.run();
