import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspector, joinSse, metricMatch } from '../helpers/cluster.ts';
import { post } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const run = promisify(execFile);

// Two real sidecars sharing groups over a real redis-server. Their Redis prefix holds every
// Redis glob character, so a pattern that did not take the prefix literally would match nothing.
let redis = await startRedis();
const prefix = 'gc[*?\\]:';
const common = {
  redisUrl: redis.url,
  redisPrefix: prefix,
  nodeHeartbeatMs: 100,
  nodeExpiryMs: 1000,
};
const A = await startTestSidecar({ ...common, nodeId: 'node-a' });
const B = await startTestSidecar({ ...common, nodeId: 'node-b' });
const look = inspector(redis.url);
const open: { close(): void }[] = [];
const clients: Redis[] = [];
function client(sc: typeof A): Redis {
  const r = new Redis(sc.addresses.resp as string);
  clients.push(r);
  return r;
}
const respPort = (sc: typeof A) => (sc.addresses.resp as string).split(':').pop() as string;

/** Redis pattern subscriptions the sidecars hold on the shared redis-server. */
async function numpat(): Promise<number> {
  return Number(await look.pubsub('NUMPAT'));
}

test.after.each(() => {
  for (const c of open.splice(0)) c.close();
});

test('a PSUBSCRIBE on node A gets what redis-cli, HTTP and a TCP member publish on node B into groups A has no member of', async () => {
  const sub = client(A);
  const got: string[] = [];
  sub.on('pmessage', (pattern: string, channel: string, message: string) =>
    got.push(`${pattern} ${channel} ${message}`),
  );
  await sub.psubscribe('zone.*');
  // A asks Redis for the pattern once: one round trip after the client's reply.
  await waitFor(async () => (await numpat()) === 1, 2000, 'A holds the pattern in Redis');
  assert.is(A.hub.findGroup('zone.cli'), undefined);
  await run('redis-cli', ['-p', respPort(B), 'PUBLISH', 'zone.cli', 'by redis-cli']);
  await waitFor(() => got.length === 1, 5000, 'redis-cli message on A');
  await post(B, 'zone.http', 'by http');
  await waitFor(() => got.length === 2, 5000, 'http message on A');
  const peer = await TcpPeer.open(B.addresses.tcp as string, 'zone.tcp');
  open.push(peer);
  await waitFor(() => B.hub.findGroup('zone.tcp')?.counts.tcp === 1, 2000, 'tcp join on B');
  peer.write('by tcp\n');
  await waitFor(() => got.length === 3, 5000, 'tcp message on A');
  // Not matching: never seen.
  await post(B, 'other.http', 'not for the pattern');
  assert.equal(got, [
    'zone.* zone.cli by redis-cli',
    'zone.* zone.http by http',
    'zone.* zone.tcp by tcp',
  ]);
  await sub.punsubscribe('zone.*');
  // The last pattern gone: A lets Redis forget it.
  await waitFor(async () => (await numpat()) === 0, 2000, 'A dropped the pattern in Redis');
});

test('a cluster-wide pattern gets a group numbered and in order, each message once', async () => {
  const sub = client(A);
  const got: string[] = [];
  sub.on('pmessage', (_p: string, _c: string, message: string) => got.push(message));
  await sub.psubscribe('seq.*');
  await waitFor(async () => (await numpat()) === 1, 2000, 'A holds the pattern in Redis');
  const pub = client(B);
  const sent: string[] = [];
  for (let i = 0; i < 200; i++) {
    sent.push(`m${i}`);
    pub.publish('seq.one', `m${i}`);
  }
  await waitFor(() => got.length >= 200, 5000, '200 messages on A');
  // A moment for duplicates, had the channel and the pattern both delivered one.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(got, sent);
  // The group A keeps for the pattern follows the cluster's numbering (Redis's, not its own).
  const a = A.hub.findGroup('seq.one');
  const meta = await look.hgetall(`${prefix}meta:seq.one`);
  assert.ok(a);
  assert.is(a.lastId, `${meta.epoch}-${meta.seq}`);
  await sub.punsubscribe('seq.*');
});

test('presence: an SSE ?presence=true subscriber and a RESP __presence__ subscriber on node A see members of node B come and go', async () => {
  const sse = await joinSse(A, 'hall', open, '?presence=true');
  const watcher = client(A);
  const pushes: string[] = [];
  watcher.on('message', (channel: string, json: string) => {
    if (channel === '__presence__:hall') pushes.push(json);
  });
  await watcher.subscribe('__presence__:hall');
  // A listens to the group's presence on Redis: one round trip.
  await waitFor(
    async () => {
      const reply = (await look.pubsub('NUMSUB', `${prefix}presence:hall`)) as [string, number];
      return Number(reply[1]) === 1;
    },
    2000,
    'A listening to presence',
  );
  const peer = await TcpPeer.open(B.addresses.tcp as string, 'hall');
  await waitFor(() => B.hub.findGroup('hall')?.counts.tcp === 1, 2000, 'tcp join on B');
  peer.close();
  const presence = () => sse.events.filter((e) => e.event === 'join' || e.event === 'leave');
  await waitFor(() => presence().length === 2 && pushes.length === 2, 5000, 'join and leave on A');
  const events = presence().map((e) => ({ event: e.event, ...JSON.parse(e.data) }));
  assert.equal(
    events.map((e) => `${e.event} ${e.type} ${e.transport} ${e.node} ${e.group}`),
    ['join join tcp node-b hall', 'leave leave tcp node-b hall'],
  );
  assert.is(events[1].member, events[0].member);
  assert.equal(
    pushes.map((j) => JSON.parse(j)),
    events.map(({ event: _e, ...rest }) => rest),
  );
  // A's own members are reported once, by A (not again when the event comes back from Redis).
  const local = await TcpPeer.open(A.addresses.tcp as string, 'hall');
  open.push(local);
  await waitFor(() => pushes.length === 3, 5000, 'local join');
  await new Promise((r) => setTimeout(r, 200));
  assert.is(pushes.length, 3);
  assert.is(JSON.parse(pushes[2]).node, 'node-a');
});

test('PUBSUB NUMSUB on node A counts members of every transport on every node, pattern followers aside', async () => {
  await joinSse(A, 'count', open);
  const peer = await TcpPeer.open(B.addresses.tcp as string, 'count');
  open.push(peer);
  const direct = client(B);
  await direct.subscribe('count');
  const follower = client(B);
  await follower.psubscribe('cou*');
  await waitFor(() => B.hub.findGroup('count')?.size === 3, 2000, 'three members on B');
  const asker = client(A);
  const numsub = async () => (await asker.pubsub('NUMSUB', 'count', 'nobody')) as unknown[];
  // B's listing reaches Redis within a turn or so.
  await waitFor(async () => (await numsub())[1] === 3, 3000, 'NUMSUB counting B');
  assert.equal(await numsub(), ['count', 3, 'nobody', 0]);
  // A RESP client only for a pattern that then subscribes too is counted from then on.
  await follower.subscribe('count');
  await waitFor(async () => (await numsub())[1] === 4, 3000, 'NUMSUB counting the follower');
  // PUBLISH counts the recipients of the node it is sent to, as Redis Cluster does.
  assert.is(await asker.publish('count', 'hello'), 1);
  await follower.punsubscribe('cou*');
  await waitFor(async () => (await numpat()) === 0, 2000, 'B dropped the pattern in Redis');
});

test('Redis away: presence events are lost for other nodes and counted; once it is back, patterns and presence are followed again', async () => {
  const sse = await joinSse(A, 'outage', open, '?presence=true');
  const sub = client(A);
  const got: string[] = [];
  sub.on('pmessage', (_p: string, channel: string, message: string) =>
    got.push(`${channel} ${message}`),
  );
  await sub.psubscribe('later.*');
  await waitFor(async () => (await numpat()) === 1, 2000, 'A holds the pattern in Redis');
  const presence = () => sse.events.filter((e) => e.event === 'join' || e.event === 'leave');
  const unshared = /groupcast_backplane_presence_events_total\{kind="unshared"\} (\d+)/;
  const before = await metricMatch(B, unshared);
  const port = redis.port;
  await redis.stop('SIGKILL');
  await waitFor(async () => (await B.hub.health()).status === 'degraded', 5000, 'B degraded');
  const during = await TcpPeer.open(B.addresses.tcp as string, 'outage');
  open.push(during);
  await waitFor(() => B.hub.findGroup('outage')?.counts.tcp === 1, 2000, 'tcp join on B');
  await waitFor(async () => (await metricMatch(B, unshared)) > before, 2000, 'counted unshared');
  redis = await startRedis(port);
  await waitFor(
    async () => (await A.hub.health()).status === 'ok' && (await B.hub.health()).status === 'ok',
    8000,
    'both back',
  );
  // Nothing is sent again: the join made while Redis was away never reaches A.
  assert.equal(presence(), []);
  await waitFor(async () => (await numpat()) === 1, 5000, 'A holds the pattern again');
  await waitFor(
    async () => {
      const reply = (await look.pubsub('NUMSUB', `${prefix}presence:outage`)) as [string, number];
      return Number(reply[1]) === 1;
    },
    5000,
    'A listening to presence again',
  );
  const after = await TcpPeer.open(B.addresses.tcp as string, 'outage');
  open.push(after);
  await waitFor(() => presence().length === 1, 5000, 'a join after the outage on A');
  assert.is(JSON.parse(presence()[0].data).node, 'node-b');
  await post(B, 'later.x', 'after the outage');
  await waitFor(() => got.length === 1, 5000, 'pattern message after the outage');
  assert.equal(got, ['later.x after the outage']);
});

test.after(async () => {
  for (const c of clients) c.disconnect();
  look.disconnect();
  await Promise.all([A.close(), B.close()]);
  await redis.stop();
});

test.run();
