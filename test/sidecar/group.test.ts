import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packPayloads } from '../../shared/message.ts';
import { DETACH_AFTER_MS, FlowControl } from '../../sidecar/flow.ts';
import { Group } from '../../sidecar/group.ts';
import { History } from '../../sidecar/history.ts';
import { Stats } from '../../sidecar/stats.ts';
import { sleep } from '../helpers/common.ts';
import { RecordingMember } from '../helpers/member.ts';

const EPOCH = 1_700_000_000_000;
const enc = new TextEncoder();
const batch = (...texts: string[]) => packPayloads(texts.map((t) => enc.encode(t)));

let flows: FlowControl[] = [];
function group(stallTimeoutMs = 60_000): Group {
  const flow = new FlowControl({ flowHighWater: 1000, stallTimeoutMs });
  flows.push(flow);
  return new Group('g', EPOCH, new History(100, 1 << 20), new Stats(), flow);
}
test.after.each(() => {
  for (const f of flows) f.stop();
  flows = [];
});

test('add and remove keep the member list, the slots and the counts by transport', () => {
  const g = group();
  const [a, b, c] = [
    new RecordingMember('a'),
    new RecordingMember('b', 'sse'),
    new RecordingMember('c'),
  ];
  for (const m of [a, b, c]) g.add(m);
  assert.equal(g.counts, { tcp: 2, udp: 0, sse: 1, resp: 0 });
  assert.is(a.group, g);
  assert.ok(g.remove(a));
  // The last member takes the removed one's slot, so removal stays O(1).
  assert.equal(g.members, [c, b]);
  assert.equal([c.groupSlot, b.groupSlot, a.groupSlot], [0, 1, -1]);
  assert.is(a.group, null);
  assert.is(g.remove(a), false, 'a second remove is refused');
  assert.ok(g.remove(b));
  assert.ok(g.remove(c));
  assert.is(g.size, 0);
  assert.equal(g.counts, { tcp: 0, udp: 0, sse: 0, resp: 0 });
});

test('publish numbers batches in sequence and hands each to every member but its origin', () => {
  const g = group();
  const [a, b, c] = [new RecordingMember('a'), new RecordingMember('b'), new RecordingMember('c')];
  for (const m of [a, b, c]) g.add(m);
  assert.is(g.lastId, null);
  assert.is(g.accept(batch('one', 'two'), a, 'local'), 2);
  const second = batch('three');
  assert.is(g.accept(second, null, 'local'), 3);
  assert.equal([second.epoch, second.firstSeq], [EPOCH, 3]);
  assert.is(g.lastId, `${EPOCH}-3`);
  assert.equal(a.texts(), ['three']);
  assert.equal(b.texts(), ['one', 'two', 'three']);
  assert.equal(c.texts(), ['one', 'two', 'three']);
  assert.ok(
    b.received.every((r) => r.pausable),
    'a local publish can be paused',
  );
  assert.is(g.deliveries, 2 * 2 + 3 * 1);
  assert.is(g.messagesIn, 3);
  assert.is(g.history.messages, 3);
  assert.equal(
    g.page({ kind: 'earliest' }, 10).messages.map((m) => m.id),
    [`${EPOCH}-1`, `${EPOCH}-2`, `${EPOCH}-3`],
  );
});

test('a member over the high-water mark congests the group until it falls; leaving also releases', () => {
  const g = group();
  const [a, b] = [new RecordingMember('a'), new RecordingMember('b')];
  g.add(a);
  g.add(b);
  let released = 0;
  g.rise(a);
  g.rise(a);
  g.rise(b);
  assert.ok(g.congested);
  g.whenDrained(() => released++);
  g.fall(a);
  assert.ok(g.congested, 'b is still over');
  assert.is(released, 0);
  g.remove(b);
  assert.is(g.congested, false);
  assert.is(released, 1);
  g.whenDrained(() => released++);
  assert.is(released, 2, 'at once when nothing is over');
  g.rise(b);
  assert.is(g.congested, false, 'a member that left cannot congest the group');
});

test('a detached member stops holding the publishers, and holds them again when reattached', () => {
  const g = group();
  const a = new RecordingMember('a');
  g.add(a);
  g.rise(a);
  g.detach(a);
  assert.is(g.congested, false);
  assert.ok(a.detached && a.over);
  g.attach(a);
  assert.ok(g.congested);
  g.detach(a);
  g.fall(a);
  assert.is(g.congested, false);
  assert.is(a.over || a.detached, false);
  g.rise(a);
  assert.ok(g.congested, 'no count left behind by the detached fall');
});

test('drained() resolves when the group drains and rejects with GROUP_BUSY after its time', async () => {
  const g = group();
  const a = new RecordingMember('a');
  g.add(a);
  await g.drained(10);
  g.rise(a);
  const err = await g.drained(30).catch((e) => e);
  assert.is(err.code, 'GROUP_BUSY');
  const waiting = g.drained(1000);
  g.fall(a);
  await waiting;
});

test('flow control detaches a member that takes nothing, and cuts it at the stall timeout', async () => {
  const g = group(DETACH_AFTER_MS + 400);
  const [a, b] = [new RecordingMember('a'), new RecordingMember('b')];
  g.add(a);
  g.add(b);
  g.accept(batch('x'.repeat(2000)), null, 'local');
  g.rise(a);
  g.rise(b);
  for (let t = 0; t < DETACH_AFTER_MS + 200; t += 50) {
    b.take(10); // b reads, slowly
    await sleep(50);
  }
  assert.ok(a.detached, 'a took nothing');
  assert.is(b.detached, false, 'b kept reading');
  assert.ok(g.congested, 'b still holds the publishers to its pace');
  assert.is(a.closedWith, undefined);
  await sleep(500);
  assert.is(a.closedWith?.code, 'SLOW_CONSUMER');
  assert.is(b.closedWith, undefined);
});

test.run();
