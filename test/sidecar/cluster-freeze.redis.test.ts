import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseId } from '../../shared/message.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { type Audit, auditLines, auditSse, describeAudit, Traffic } from '../helpers/audit.ts';
import { inspector, joinSse, joinTcp, metricMatch, waitListening } from '../helpers/cluster.ts';
import { getJson } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';

// Redis frozen (SIGSTOP) longer than the 5 s a command may go unanswered, mid-traffic, with
// natural timing: the publishing node gives its transactions up and numbers them itself, and
// Redis runs them anyway once it thaws. The pub/sub connections are proven alive (PING) once a
// heartbeat: with a heartbeat longer than the test, they outlive the freeze, as they do with the
// default 2 s heartbeat whenever the freeze began less than 5 s after a ping was answered.
const redis = await startRedis();
const look = inspector(redis.url);
const common: Partial<SidecarOptions> = {
  redisUrl: redis.url,
  nodeHeartbeatMs: 20_000,
  nodeExpiryMs: 60_000,
};
const A = await startTestSidecar({ ...common, nodeId: 'node-a' });
const B = await startTestSidecar({ ...common, nodeId: 'node-b' });
const open: { close(): void }[] = [];

test.after(async () => {
  for (const x of open.splice(0)) x.close();
  try {
    process.kill(redis.pid, 'SIGCONT');
  } catch {}
  await Promise.all([A.close(), B.close()]);
  look.disconnect();
  await redis.stop();
});

const tcp = (sc: Sidecar, group: string) => joinTcp(sc, group, open);

const sse = (sc: Sidecar, group: string) => joinSse(sc, group, open);

const metric = metricMatch;

const LOST = /kind="lost"\} (\d+)/;

/** Epochs of ids numbered by a node alone are ms x 100 + a digit pair: far above any clock reading. */
const isLocalId = (id: string | undefined) => (parseId(id ?? '')?.epoch ?? 0) > Date.now() * 10;

function clean(name: string, a: Audit, mayLose: Set<number> | null): void {
  const why = describeAudit(name, a);
  assert.equal(a.duplicated, [], why);
  assert.equal(a.reordered, [], why);
  assert.equal(a.untrue, [], why);
  if (mayLose === null) assert.equal(a.lost, [], why);
  else
    assert.ok(
      a.lost.every((n) => mayLose.has(n)),
      `${why}: lost only what its node numbered alone`,
    );
}

test('Redis frozen past the command timeout: the publishing node reports no loss for what its members have, nothing comes twice or out of order anywhere', async () => {
  const group = 'frozen';
  const pub = await tcp(A, group);
  const a1 = await tcp(A, group);
  const aSse = await sse(A, group);
  const b1 = await tcp(B, group);
  const bSse = await sse(B, group);
  await waitListening(look, group, 2);
  // 1,000 messages a second: 1 s before the freeze, 5.6 s frozen, 1.4 s after.
  const traffic = new Traffic((t) => pub.write(t), 'f', 10, 10, 8000);
  await sleep(1000);
  process.kill(redis.pid, 'SIGSTOP');
  await sleep(5600);
  process.kill(redis.pid, 'SIGCONT');
  await traffic.done;
  const sent = traffic.sent;
  const healthy = async (sc: Sidecar) => (await getJson(sc, '/healthz')).json.status === 'ok';
  await waitFor(async () => (await healthy(A)) && (await healthy(B)), 8000, 'both healthy');
  await waitListening(look, group, 2);
  pub.write('end\n');
  await a1.waitForText('end\n', 5000);
  await b1.waitForText('end\n', 8000);
  await waitFor(() => aSse.data().includes('end'), 8000, 'end on A (SSE)');
  await waitFor(() => bSse.data().includes('end'), 8000, 'end on B (SSE)');

  // What A's SSE subscriber got under A's own ids is what A could not share.
  const local = new Set(
    aSse
      .messages()
      .filter((m) => isLocalId(m.id))
      .map((m) => Number(m.data.slice(1))),
  );
  const onA = auditSse(aSse.events, 'f', sent);
  const onB = auditSse(bSse.events, 'f', sent);
  clean('A TCP', auditLines(a1.text, 'f', sent), null);
  clean('A SSE', onA, null);
  assert.equal(onA.silent, [], describeAudit('A SSE', onA));
  assert.ok(
    onA.gaps.every((g) => g.reason === 'reset'),
    `A's subscriber is told of each switch of sequence, nothing else: ${JSON.stringify(onA.gaps)}`,
  );
  clean('B TCP', auditLines(b1.text, 'f', sent), local);
  clean('B SSE', onB, local);
  // What A numbered alone reaches B's subscriber as a gap in the cluster's sequence.
  assert.equal(onB.silent, [], describeAudit('B SSE', onB));
  assert.is(await metric(A, LOST), 0, 'no loss counted on A');
  assert.is(await metric(B, LOST), onB.lost.length, 'B counts as lost what its members missed');
  console.log(
    `  measured: sent ${sent}; A numbered ${local.size} alone; A SSE gaps ${JSON.stringify(onA.gaps)}; B TCP lost ${auditLines(b1.text, 'f', sent).lost.length}, B SSE lost ${onB.lost.length}, gaps ${JSON.stringify(onB.gaps)}; A unshared ${await metric(A, /unshared_messages_total\{reason="error"\} (\d+)/)} error + ${await metric(A, /unshared_messages_total\{reason="down"\} (\d+)/)} down; reconnects A ${await metric(A, /reconnects_total (\d+)/)} B ${await metric(B, /reconnects_total (\d+)/)}; read-backs B ${await metric(B, /read_backs_total (\d+)/)}, recovered B ${await metric(B, /recovered_messages_total (\d+)/)}`,
  );
});

test.run();
