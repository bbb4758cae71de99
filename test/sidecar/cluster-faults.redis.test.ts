import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseId } from '../../shared/message.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { inspector, metricMatch, waitListening } from '../helpers/cluster.ts';
import { baseUrl, getJson } from '../helpers/http.ts';
import { type Started, startProcess } from '../helpers/process.ts';
import { freePort, type RedisServer, startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

// Redis comes and goes under two running sidecars; a third node runs as a real process so it
// can be killed. Redis is absent at first: the sidecars start without it.
const port = await freePort();
const url = `redis://127.0.0.1:${port}`;
const look = inspector(url);
const EXPIRY_MS = 800;
const HEARTBEAT_MS = 100;
const common: Partial<SidecarOptions> = {
  redisUrl: url,
  nodeHeartbeatMs: HEARTBEAT_MS,
  nodeExpiryMs: EXPIRY_MS,
};
const A = await startTestSidecar({ ...common, nodeId: 'node-a' });
const B = await startTestSidecar({ ...common, nodeId: 'node-b', healthStrict: true });
let redis: RedisServer | null = null;
const procs: Started[] = [];

const group = 'lobby';
let a1: TcpPeer;
let a2: TcpPeer;
let b1: TcpPeer;
let events: SseClient;

async function health(sc: Sidecar) {
  return getJson(sc, '/healthz');
}

const metric = metricMatch;

const UNSHARED_DOWN = /^groupcast_backplane_unshared_messages_total\{reason="down"\} (\d+)$/m;

/** Epochs of ids numbered by a node alone are ms x 100 + a digit pair: far above any clock reading. */
function isLocalId(id: string | undefined): boolean {
  return (parseId(id ?? '')?.epoch ?? 0) > Date.now() * 10;
}

function sidecarProcess(node: string, extra: string[] = []): Promise<Started> {
  return startProcess(
    process.execPath,
    [
      '--import',
      'tsx',
      'sidecar/main.ts',
      '--redis',
      url,
      '--node-id',
      node,
      '--node-heartbeat',
      `${HEARTBEAT_MS}ms`,
      '--node-expiry',
      `${EXPIRY_MS}ms`,
      '--tcp-port',
      '0',
      '--udp-port',
      'off',
      '--http-port',
      '0',
      ...extra,
    ],
    {},
    ['tcp', 'http'],
  );
}

async function nodesListed(sc: Sidecar): Promise<string[]> {
  const d = await getJson(sc, `/groups/${group}`);
  return d.status === 200 ? d.json.members.map((m: { node: string }) => m.node) : [];
}

test.after(async () => {
  for (const p of [a1, a2, b1, events]) p?.close();
  await Promise.all([A.close(), B.close(), ...procs.map((p) => p.stop('SIGKILL'))]);
  look.disconnect();
  await redis?.stop();
});

test('Redis out of reach at start-up: sidecars start, serve their own members and say degraded', async () => {
  const a = await health(A);
  assert.is(a.status, 200, 'degraded is still serving');
  assert.is(a.json.status, 'degraded');
  assert.is(a.json.backplane.connected, false);
  const b = await health(B);
  assert.is(b.status, 503, 'strict mode answers 503 when degraded');
  assert.is(b.json.status, 'degraded');
  a1 = await TcpPeer.open(A.addresses.tcp as string, group);
  a2 = await TcpPeer.open(A.addresses.tcp as string, group);
  events = await SseClient.open(`${baseUrl(A)}/groups/${group}/events`);
  await waitFor(() => A.hub.findGroup(group)?.size === 3, 2000, 'members on A');
  a1.write('alone\n');
  await a2.waitForText('alone\n');
  const [m] = await events.waitForMessages(1);
  assert.is(m.data, 'alone');
  assert.ok(isLocalId(m.id), `an id of this node alone: ${m.id}`);
  assert.ok((await metric(A, UNSHARED_DOWN)) >= 1, 'counted as not shared');
  assert.match(
    await (await fetch(`${baseUrl(A)}/metrics`)).text(),
    /^groupcast_backplane_connected 0$/m,
  );
});

test('when Redis comes up, sharing starts by itself, without restarting the sidecars', async () => {
  redis = await startRedis(port);
  await waitFor(async () => (await health(A)).json.status === 'ok', 8000, 'A healthy');
  await waitFor(async () => (await health(B)).status === 200, 8000, 'B healthy');
  b1 = await TcpPeer.open(B.addresses.tcp as string, group);
  await waitListening(look, group, 2);
  a1.write('shared\n');
  await b1.waitForText('shared\n');
  await a2.waitForText('alone\nshared\n');
  const msgs = await events.waitForMessages(2);
  assert.is(msgs[1].data, 'shared');
  assert.not.ok(isLocalId(msgs[1].id), `a cluster id: ${msgs[1].id}`);
  // The switch from this node's ids to the cluster's is announced, never silent.
  const gap = events.events.find((e) => e.event === 'gap');
  assert.ok(gap, 'a gap event before the first cluster id');
  assert.equal(JSON.parse(gap?.data ?? '{}'), {
    requested: msgs[0].id,
    resumedFrom: msgs[1].id,
    reason: 'reset',
  });
  b1.write('back\n');
  await a1.waitForText('back\n');
});

test('Redis killed mid-run: local delivery goes on, health degraded, SSE told; restarted on the same port, delivery across nodes resumes', async () => {
  const downBefore = await metric(A, UNSHARED_DOWN);
  await redis?.stop('SIGKILL');
  await waitFor(async () => (await health(A)).json.status === 'degraded', 5000, 'A degraded');
  assert.is((await health(A)).status, 200);
  assert.is((await health(B)).status, 503);
  a1.write('while down\n');
  await a2.waitForText('shared\nback\nwhile down\n');
  const msgs = await events.waitForMessages(4);
  assert.equal(
    msgs.map((m) => m.data),
    ['alone', 'shared', 'back', 'while down'],
  );
  assert.ok(isLocalId(msgs[3].id));
  const gaps = () => events.events.filter((e) => e.event === 'gap');
  assert.is(gaps().length, 2);
  assert.equal(JSON.parse(gaps()[1].data), {
    requested: msgs[2].id,
    resumedFrom: msgs[3].id,
    reason: 'reset',
  });
  assert.ok((await metric(A, UNSHARED_DOWN)) > downBefore, 'counted as not shared');
  await sleep(200);
  assert.not.ok(
    b1.text.includes('while down'),
    'nothing reaches the other node while Redis is down',
  );

  redis = await startRedis(port);
  await waitFor(async () => (await health(A)).json.status === 'ok', 8000, 'A healthy again');
  await waitFor(async () => (await health(B)).status === 200, 8000, 'B healthy again');
  await waitListening(look, group, 2);
  a1.write('after\n');
  await b1.waitForText('after\n');
  await a2.waitForText('while down\nafter\n');
  assert.is(a2.text, 'alone\nshared\nback\nwhile down\nafter\n');
  b1.write('from b\n');
  await a1.waitForText('back\nfrom b\n');
  const after = await events.waitForMessages(6);
  assert.equal(
    after.map((m) => m.data),
    ['alone', 'shared', 'back', 'while down', 'after', 'from b'],
  );
  assert.not.ok(isLocalId(after[4].id));
  assert.is(parseId(after[5].id ?? '')?.seq, (parseId(after[4].id ?? '')?.seq ?? 0) + 1);
  assert.is(gaps().length, 3, 'the return to cluster ids is announced too');
  assert.match(
    await (await fetch(`${baseUrl(A)}/metrics`)).text(),
    /^groupcast_backplane_reconnects_total [1-9]/m,
  );
});

test('a node killed with SIGKILL disappears from listings within the node expiry; the others go on', async () => {
  const c = await sidecarProcess('node-c');
  procs.push(c);
  const c1 = await TcpPeer.open(c.addresses.tcp, group);
  await waitFor(async () => (await nodesListed(A)).includes('node-c'), 3000, 'node-c listed on A');
  await waitFor(async () => (await health(A)).json.backplane.nodes === 3, 3000, '3 nodes');
  const killedAt = Date.now();
  await c.stop('SIGKILL');
  c1.close();
  await waitFor(async () => !(await nodesListed(A)).includes('node-c'), 5000, 'node-c gone from A');
  const took = Date.now() - killedAt;
  assert.ok(took <= EXPIRY_MS + 400, `gone after ${took} ms (expiry ${EXPIRY_MS} ms)`);
  const groups = (await getJson(B, '/groups')).json.groups;
  assert.is(groups.find((g: { group: string }) => g.group === group).counts.tcp, 3);
  a1.write('still here\n');
  await b1.waitForText('still here\n');
  await waitFor(async () => (await health(A)).json.backplane.nodes === 2, 3000, '2 nodes');
});

test('a node stopped cleanly leaves the listings at once, not after its expiry', async () => {
  const d = await sidecarProcess('node-d', ['--node-expiry', '60s', '--node-heartbeat', '1s']);
  procs.push(d);
  const d1 = await TcpPeer.open(d.addresses.tcp, group);
  await waitFor(async () => (await nodesListed(A)).includes('node-d'), 3000, 'node-d listed on A');
  assert.is(await d.stop('SIGTERM'), 0);
  d1.close();
  await waitFor(
    async () => !(await nodesListed(A)).includes('node-d'),
    1000,
    'node-d gone at once',
  );
});

test("a node killed and restarted under the same id lists only its new members, not its predecessor's", async () => {
  // An expiry longer than a restart takes: the old entries are still there when it is back.
  const expiry = ['--node-expiry', '4s'];
  const first = await sidecarProcess('node-r', expiry);
  procs.push(first);
  const old = await Promise.all([1, 2, 3].map(() => TcpPeer.open(first.addresses.tcp, group)));
  const onR = async () =>
    (await getJson(A, `/groups/${group}`)).json.members.filter(
      (m: { node: string }) => m.node === 'node-r',
    ).length;
  await waitFor(async () => (await onR()) === 3, 3000, '3 members of node-r listed on A');
  const killedAt = Date.now();
  await first.stop('SIGKILL');
  for (const p of old) p.close();
  const second = await sidecarProcess('node-r', expiry);
  procs.push(second);
  const fresh = await TcpPeer.open(second.addresses.tcp, group);
  await waitFor(async () => (await onR()) === 1, 3000, 'only the new member of node-r on A');
  // Past the old entries' expiry, the new process's heartbeat has not kept them.
  await sleep(Math.max(0, killedAt + 4500 - Date.now()));
  assert.is(await onR(), 1, 'one member of node-r, past the expiry too');
  const detail = (await getJson(A, `/groups/${group}`)).json;
  const summary = (await getJson(A, '/groups')).json.groups.find(
    (g: { group: string }) => g.group === group,
  );
  assert.is(
    detail.members.length,
    summary.counts.tcp + summary.counts.sse,
    'listing and counts agree',
  );
  fresh.close();
});

test.run();
