import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { inspector, joinSse, waitListening } from '../helpers/cluster.ts';
import { getJson, post } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import type { SseEvent } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

// The publish time on the wire: `event: time` before each batch's messages, on one sidecar,
// across two sidecars over a real redis-server, live and replayed.
const redis = await startRedis();
const look = inspector(redis.url);
const common: Partial<SidecarOptions> = {
  redisUrl: redis.url,
  nodeHeartbeatMs: 100,
  nodeExpiryMs: 1000,
};
const solo = await startTestSidecar();
const A = await startTestSidecar({ ...common, nodeId: 'time-a' });
const B = await startTestSidecar({ ...common, nodeId: 'time-b' });
const open: { close(): void }[] = [];

const sse = (sc: Sidecar, group: string, query = '') => joinSse(sc, group, open, query);

/** Each message with the time of the `time` event before it, as an EventSource client reads it. */
function timed(events: SseEvent[]): { id?: string; data: string; time: number | undefined }[] {
  let time: number | undefined;
  const out: { id?: string; data: string; time: number | undefined }[] = [];
  for (const e of events) {
    if (e.event === 'time') {
      // Named, with no id: EventSource's onmessage skips it and the last event id stays.
      assert.is(e.id, undefined);
      assert.match(e.data, /^\d{13}$/);
      time = Number(e.data);
    } else if (e.event === 'message') out.push({ id: e.id, data: e.data, time });
  }
  return out;
}

test.after.each(() => {
  for (const c of open.splice(0)) c.close();
});

test.after(async () => {
  await Promise.all([solo.close(), A.close(), B.close()]);
  look.disconnect();
  await redis.stop();
});

test('every batch is preceded by the time the sidecar received it, and replay keeps that time', async () => {
  const live = await sse(solo, 'clock');
  const peer = await TcpPeer.open(solo.addresses.tcp as string, 'clock');
  open.push(peer);
  await waitFor(() => solo.hub.findGroup('clock')?.counts.tcp === 1, 2000, 'tcp join');
  const t0 = Date.now();
  peer.write('one\ntwo\n');
  await live.waitForMessages(2);
  await sleep(60);
  const t1 = Date.now();
  peer.write('three\n');
  await live.waitForMessages(3);
  const got = timed(live.events);
  assert.equal(
    got.map((m) => m.data),
    ['one', 'two', 'three'],
  );
  const [one, two, three] = got.map((m) => m.time ?? -1);
  assert.ok(one >= t0 && one < t1, `first batch time ${one} not within [${t0}, ${t1})`);
  assert.ok(three >= t1, `later batch time ${three} before ${t1}`);
  assert.ok(two >= one && two <= three);
  await sleep(60);
  // A replay long after: the same times, not the replay's.
  const replay = await sse(solo, 'clock', '?from=earliest');
  await replay.waitForMessages(3);
  assert.equal(timed(replay.events), got);
  const resumed = await sse(solo, 'clock', `?lastEventId=${got[1].id}`);
  await resumed.waitForMessages(1);
  assert.equal(timed(resumed.events), [got[2]]);
  const page = await getJson(solo, '/groups/clock/messages');
  assert.equal(
    page.json.messages.map((m: { time: number }) => m.time),
    [one, two, three],
  );
});

test('a message shows the same publish time on every sidecar, live and replayed from Redis', async () => {
  const onA = await sse(A, 'shared-clock');
  const onB = await sse(B, 'shared-clock');
  await waitListening(look, 'shared-clock', 2);
  const t0 = Date.now();
  assert.is((await post(A, 'shared-clock', 'hello')).status < 300, true);
  await sleep(40);
  assert.is((await post(A, 'shared-clock', 'again')).status < 300, true);
  await onA.waitForMessages(2);
  await onB.waitForMessages(2);
  const a = timed(onA.events);
  const b = timed(onB.events);
  assert.equal(b, a);
  assert.ok((a[0].time ?? 0) >= t0 && (a[1].time ?? 0) >= (a[0].time ?? 0) + 30, 'two times');
  await sleep(60);
  // B replays from the shared history in Redis, and its page says the same.
  const replay = await sse(B, 'shared-clock', '?from=earliest');
  await replay.waitForMessages(2);
  assert.equal(timed(replay.events), a);
  const page = await getJson(B, '/groups/shared-clock/messages');
  assert.equal(
    page.json.messages.map((m: { time: number }) => m.time),
    a.map((m) => m.time),
  );
});

test.run();
