import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Origin } from '../../shared/hub.ts';
import { BATCH_OVERHEAD_BYTES } from '../../sidecar/history.ts';
import { type HubOptions, LocalHub } from '../../sidecar/hub.ts';
import { sleep } from '../helpers/common.ts';
import { RecordingMember, RecordingSubscriber } from '../helpers/member.ts';

const OPTIONS: HubOptions = {
  tcpFraming: 'line',
  maxMessageBytes: 4096,
  historyMessages: 100,
  historyBytes: 1 << 20,
  groupTtlMs: 0,
  maxGroups: 100,
  maxMembersPerGroup: 100,
  maxConnections: 100,
  flowHighWater: 1 << 20,
  stallTimeoutMs: 30_000,
  publishWaitMs: 200,
  memoryBudget: 64 << 20,
  respMaxPatterns: 100,
};
const HTTP: Origin = { transport: 'http', remote: '127.0.0.1:3' };
const enc = new TextEncoder();

let hubs: LocalHub[] = [];
function hub(options: Partial<HubOptions> = {}): LocalHub {
  const h = new LocalHub({ ...OPTIONS, ...options }, pino({ level: 'silent' }), 'node-1');
  hubs.push(h);
  return h;
}
test.after.each(() => {
  for (const h of hubs) h.close();
  hubs = [];
});

const publish = (h: LocalHub, group: string, ...texts: string[]) =>
  h.publish(
    group,
    texts.map((t) => enc.encode(t)),
    HTTP,
  );

test('join refuses a member past maxMembersPerGroup and a group past maxGroups', () => {
  const h = hub({ maxMembersPerGroup: 2, maxGroups: 2 });
  const a = new RecordingMember('a');
  h.join('one', a);
  h.join('one', new RecordingMember('b'));
  const full = (() => {
    try {
      h.join('one', new RecordingMember('c'));
    } catch (err) {
      return err as { code: string };
    }
  })();
  assert.is(full?.code, 'GROUP_FULL');
  assert.is(h.findGroup('one')?.size, 2);
  h.join('two', new RecordingMember('d'));
  const many = (() => {
    try {
      h.join('three', new RecordingMember('e'));
    } catch (err) {
      return err as { code: string };
    }
  })();
  assert.is(many?.code, 'TOO_MANY_GROUPS');
  assert.is(h.groupCount, 2);
  // 'two' empties and holds no history: it goes at once, and makes room.
  const two = h.findGroup('two');
  if (!two) throw new Error('no group two');
  h.leave(two, two.members[0]);
  assert.is(h.findGroup('two'), undefined);
  h.join('three', new RecordingMember('e'));
  assert.is(h.groupCount, 2);
});

test('an idle group keeps its history for groupTtl, and gives way to a new group at maxGroups', async () => {
  const h = hub({ maxGroups: 2, groupTtlMs: 60_000 });
  const m = new RecordingMember('m');
  const old = h.join('old', m);
  await publish(h, 'old', 'kept');
  h.leave(old, m);
  assert.is(h.findGroup('old')?.history.messages, 1, 'kept for replay');
  h.join('busy', new RecordingMember('b'));
  h.join('new', new RecordingMember('n'));
  assert.is(h.findGroup('old'), undefined, 'the idle group gave way');
  assert.ok(h.findGroup('busy') && h.findGroup('new'));
  const refused = (() => {
    try {
      h.join('another', new RecordingMember('x'));
    } catch (err) {
      return err as { code: string };
    }
  })();
  assert.is(refused?.code, 'TOO_MANY_GROUPS', 'groups with members never give way');
});

test('publish numbers the messages and reaches every member; bad input is refused', async () => {
  const h = hub();
  const [a, b] = [new RecordingMember('a'), new RecordingMember('b', 'udp')];
  const g = h.join('p', a);
  h.join('p', b);
  const r = await publish(h, 'p', 'one', 'two');
  assert.equal(r, { ids: [`${g.epoch}-1`, `${g.epoch}-2`], recipients: 2 });
  assert.equal((await publish(h, 'p', 'three')).ids, [`${g.epoch}-3`]);
  assert.equal(a.texts(), ['one', 'two', 'three']);
  assert.equal(b.texts(), ['one', 'two', 'three']);
  assert.is(h.stats.byTransport.http.messagesIn, 3);
  const big = await publish(h, 'p', 'x'.repeat(4097)).catch((e) => e);
  assert.is(big.code, 'MESSAGE_TOO_LARGE');
  const bad = await publish(h, 'no spaces', 'x').catch((e) => e);
  assert.is(bad.code, 'INVALID_GROUP_ID');
  assert.is(g.seq, 3, 'a refused publish takes no id');
});

test('a congested group holds a POST, and refuses it with GROUP_BUSY when it does not drain', async () => {
  const h = hub({ publishWaitMs: 100 });
  const a = new RecordingMember('a');
  const g = h.join('slow', a);
  g.rise(a);
  const busy = await publish(h, 'slow', 'waits').catch((e) => e);
  assert.is(busy.code, 'GROUP_BUSY');
  const held = publish(h, 'slow', 'then goes');
  await sleep(20);
  assert.equal(a.texts(), []);
  g.fall(a);
  await held;
  assert.equal(a.texts(), ['then goes']);
});

test('subscribe replays what was asked, counts the stream; unsubscribe leaves once', async () => {
  const h = hub({ groupTtlMs: 60_000, maxConnections: 1 });
  await publish(h, 's', 'one', 'two');
  const sub = new RecordingSubscriber();
  const s = await h.subscribe('s', { kind: 'earliest' }, sub);
  assert.match(sub.text, /data: one\n[\s\S]*data: two\n/);
  assert.is(h.connections.sse, 1);
  assert.is(h.findGroup('s')?.counts.sse, 1);
  const refused = await h
    .subscribe('s', { kind: 'live' }, new RecordingSubscriber())
    .catch((e) => e);
  assert.is(refused.code, 'TOO_MANY_CONNECTIONS');
  await publish(h, 's', 'three');
  await sleep(10); // SSE members write what a turn brought after it
  assert.match(sub.text, /data: three\n/);
  s.unsubscribe();
  s.unsubscribe();
  assert.is(h.connections.sse, 0);
  assert.is(h.findGroup('s')?.counts.sse, 0);
  await publish(h, 's', 'four');
  await sleep(10);
  assert.not.match(sub.text, /four/);
});

test('over its memory budget the hub evicts the oldest history first, across groups', async () => {
  // Room for 9 one-message batches of 1000 bytes with their overhead, and a little more.
  const batch = 1000 + BATCH_OVERHEAD_BYTES;
  const budget = 9 * batch + 500;
  const h = hub({ memoryBudget: budget, groupTtlMs: 60_000 });
  const kib = (c: string) => c.repeat(999);
  for (const group of ['a', 'b', 'c']) {
    for (let i = 0; i < 3; i++) {
      await publish(h, group, kib(group));
      await sleep(3);
    }
  }
  const held = (g: string) => h.findGroup(g)?.history.messages ?? 0;
  assert.equal(['a', 'b', 'c'].map(held), [3, 3, 3]);
  assert.is(h.budget.evictedBytes, 0);
  // 9 batches held; a batch of 4 passes the budget: evicted to 90% of it, a's 3 batches and one of b's.
  await publish(h, 'd', kib('d'), kib('d'), kib('d'), kib('d'));
  await sleep(20); // settled after the turn that went over
  assert.is(held('a'), 0, 'the oldest group went first');
  assert.ok(held('b') < 3, `b: ${held('b')}`);
  assert.equal([held('c'), held('d')], [3, 4], 'the newest stayed');
  assert.ok(h.budget.evictedBytes >= 4 * batch);
  assert.ok(h.memoryReport().history <= budget * 0.9);
  assert.is(h.budget.over, false);
});

test.run();
