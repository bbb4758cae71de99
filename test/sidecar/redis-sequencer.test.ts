import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { framing } from '../../shared/framing/index.ts';
import type { Batch } from '../../shared/message.ts';
import type { SharedBatch } from '../../sidecar/backplane/redis/codec.ts';
import type { Hole } from '../../sidecar/backplane/redis/history.ts';
import { type OwnEcho, Sequencer } from '../../sidecar/backplane/redis/sequencer.ts';
import { BackplaneStats } from '../../sidecar/backplane/redis/stats.ts';
import { FlowControl } from '../../sidecar/flow.ts';
import { Group, SseMember } from '../../sidecar/group.ts';
import { History } from '../../sidecar/history.ts';
import { createLogger } from '../../sidecar/logger.ts';
import type { Member } from '../../sidecar/member.ts';
import { Stats } from '../../sidecar/stats.ts';

const EPOCH = 1795308229733;
const line = framing('line');
const dec = new TextDecoder();

/** Messages `<prefix><first>` .. `<prefix><last>`, numbered first..last. */
function batch(prefix: string, first: number, last: number): Batch {
  const payloads = [];
  for (let i = first; i <= last; i++) payloads.push(new TextEncoder().encode(`${prefix}${i}`));
  const b = line.encode(payloads);
  b.epoch = EPOCH;
  b.firstSeq = first;
  return b;
}

const fromNode = (origin: string, b: Batch): SharedBatch => ({ origin, framing: 'line', batch: b });
const echo = (b: Batch): OwnEcho => ({ epoch: b.epoch, firstSeq: b.firstSeq, count: b.count });

/** A TCP member that records what it is sent. */
function socketMember(): Member & { got: string[] } {
  const got: string[] = [];
  return {
    id: 'm',
    transport: 'tcp',
    remote: '',
    joinedAt: 0,
    needsIds: false,
    groupSlot: -1,
    over: false,
    detached: false,
    pendingBytes: 0,
    got,
    joined: () => {},
    left: () => {},
    deliver: (b: Batch) => {
      for (let i = 0; i < b.count; i++) got.push(dec.decode(b.payload(i)));
    },
    progress: () => true,
    close: () => {},
  };
}

interface Setup {
  seq: Sequencer;
  group: Group;
  sockets: Member & { got: string[] };
  stats: BackplaneStats;
  /** What node A's outbox answers for its own batches. */
  published: (first: number) => Batch[] | null | Promise<Batch[] | null>;
  /** The shared history, by first seq. */
  shared: Map<number, SharedBatch | Hole>;
  /** Fields of batches and holes this node numbered itself (see SequencerDeps.numberedHere). */
  numbered: Set<string>;
}

function setup(): Setup {
  const stats = new BackplaneStats();
  const s: Setup = {
    stats,
    group: new Group(
      'g',
      EPOCH,
      new History(1000, 1 << 20),
      new Stats(),
      new FlowControl({ flowHighWater: 1 << 20, stallTimeoutMs: 5000 }),
    ),
    sockets: socketMember(),
    published: () => null,
    shared: new Map(),
    numbered: new Set(),
    seq: undefined as unknown as Sequencer,
  };
  s.group.add(s.sockets);
  s.seq = new Sequencer({
    node: 'A',
    readRange: async (_name, epoch, after, upto) =>
      [...s.shared.values()].filter((e) => {
        const [ep, first, last] =
          'hole' in e
            ? [e.epoch, e.firstSeq, e.firstSeq + e.count - 1]
            : [e.batch.epoch, e.batch.firstSeq, e.batch.lastSeq];
        return ep === epoch && first > after && last <= upto;
      }),
    published: (_g, _epoch, first) => s.published(first),
    numberedHere: (field) => s.numbered.delete(field),
    unconfirmedEcho: () => false,
    maxHeldBytes: 1 << 20,
    stats,
    log: createLogger('silent'),
  });
  return s;
}

/** Message ids and payloads in the group's history: what SSE subscribers get. */
function history(g: Group): string[] {
  const out: string[] = [];
  for (const b of g.history.after(0)) {
    for (let i = 0; i < b.count; i++) out.push(`${b.firstSeq + i}:${dec.decode(b.payload(i))}`);
  }
  return out;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** An SSE subscriber of the group: the messages and gap events it was sent, in order. */
function sseOf(g: Group): string[] {
  const events: string[] = [];
  const m = new SseMember(
    {
      remote: '',
      pendingBytes: 0,
      takenBytes: 0,
      write: (chunk) => {
        for (const ev of dec.decode(chunk).split('\n\n')) {
          const data = /^data: (.*)$/m.exec(ev)?.[1];
          if (ev.includes('event: gap')) events.push(`gap ${JSON.parse(data ?? '{}').reason}`);
          else if (data !== undefined && /^id: /m.test(ev)) events.push(data);
        }
      },
      close: () => {},
    },
    { unsubscribed: () => {} },
  );
  g.add(m);
  return events;
}

function stored(b: Batch, field: string): SharedBatch {
  return { ...fromNode('A', b), field };
}

test('a batch published here comes from the outbox when its echo arrives, in line with the others', () => {
  const s = setup();
  const own = batch('a', 3, 4);
  s.published = (first) => (first === 3 ? [own] : null);
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 2)));
  s.seq.echoed(s.group, echo(own));
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 5, 5)));
  assert.equal(history(s.group), ['1:b1', '2:b2', '3:a3', '4:a4', '5:b5']);
  assert.equal(s.sockets.got, ['b1', 'b2', 'b5'], 'its own never go back to its sockets');
  assert.is(s.stats.received, 3);
});

test('an echo that overtook Redis answer waits for it; what arrives meanwhile waits behind it', async () => {
  const s = setup();
  const own = batch('a', 1, 2);
  let answer: (b: Batch[]) => void = () => {};
  s.published = () => new Promise((resolve) => (answer = resolve));
  s.seq.echoed(s.group, echo(own));
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 3, 3)));
  await tick();
  assert.equal(history(s.group), [], 'nothing before the answer');
  answer([own]);
  await tick();
  assert.equal(history(s.group), ['1:a1', '2:a2', '3:b3']);
  assert.equal(s.sockets.got, ['b3']);
});

test('an echo of a batch the outbox no longer has is read back from the shared history', async () => {
  const s = setup();
  s.shared.set(1, fromNode('A', batch('a', 1, 2)));
  s.seq.echoed(s.group, echo(batch('a', 1, 2)));
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 3, 3)));
  await tick();
  assert.equal(history(s.group), ['1:a1', '2:a2', '3:b3']);
  assert.equal(s.sockets.got, ['b3'], 'read back, its own still not sent to its sockets');
});

test('what neither the outbox nor the shared history has is counted lost, and the group goes on', async () => {
  const s = setup();
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 1)));
  s.seq.echoed(s.group, echo(batch('a', 2, 3)));
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 4, 4)));
  await tick();
  assert.equal(history(s.group), ['4:b4'], 'a gap restarts what is held at the loss');
  assert.is(s.group.seq, 4);
  assert.is(s.stats.problems.get('lost'), 2);
});

test('back in the sequence it left, a node passes over its own batches Redis took late: its subscribers had them', async () => {
  const s = setup();
  const sse = sseOf(s.group);
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 1)));
  // Redis did not answer: numbered here, under this node's own ids.
  s.seq.local(s.group, line.encode([new TextEncoder().encode('a2')]));
  // Redis ran it after all (cluster seq 2); then B's batch 3 arrives.
  s.shared.set(2, stored(batch('a', 2, 2), 'f-late'));
  s.numbered.add('f-late');
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 3, 3)));
  await tick();
  await tick();
  assert.equal(sse, ['b1', 'gap reset', 'a2', 'gap reset', 'b3'], 'a2 once, no evicted gap');
  assert.equal(s.sockets.got, ['b1', 'b3']);
  assert.is(s.stats.problems.get('lost') ?? 0, 0);
});

test('a new sequence is read back from its first id, whatever batch of it arrives first', async () => {
  const s = setup();
  const sse = sseOf(s.group);
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 1)));
  const next = (b: Batch) => {
    b.epoch = EPOCH + 1;
    return b;
  };
  s.shared.set(1, fromNode('B', next(batch('n', 1, 2))));
  s.seq.fromRedis(s.group, fromNode('B', next(batch('n', 3, 3))));
  await tick();
  assert.equal(s.sockets.got, ['b1', 'n1', 'n2', 'n3']);
  assert.equal(sse, ['b1', 'gap reset', 'n1', 'n2', 'n3']);
});

const hole = (first: number, count: number, field: string): Hole => ({
  hole: true,
  epoch: EPOCH,
  firstSeq: first,
  count,
  field,
});

test('a hole in the sequence: evicted for others, passed over by the node that has its messages', async () => {
  const s = setup();
  const sse = sseOf(s.group);
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 1)));
  s.shared.set(2, hole(2, 2, '-2:A:x:h1'));
  s.shared.set(4, hole(4, 1, '-1'));
  s.numbered.add('-2:A:x:h1');
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 5, 5)));
  await tick();
  assert.equal(sse, ['b1', 'gap evicted', 'b5'], 'told of the one it never had');
  assert.is(s.stats.problems.get('lost'), 1);
});

test('missing stretches side by side reach SSE subscribers as one gap', async () => {
  const s = setup();
  const sse = sseOf(s.group);
  const events: string[] = [];
  s.group.add(
    new SseMember(
      {
        remote: '',
        pendingBytes: 0,
        takenBytes: 0,
        write: (chunk) => {
          const text = dec.decode(chunk);
          if (text.includes('event: gap')) events.push(/^data: (.*)$/m.exec(text)?.[1] ?? '');
        },
        close: () => {},
      },
      { unsubscribed: () => {} },
    ),
  );
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 1, 1)));
  // Two holes (two full queues' worth, numbered apart), then an id the history no longer holds.
  s.shared.set(2, hole(2, 2, '-2'));
  s.shared.set(4, hole(4, 1, '-1'));
  s.seq.fromRedis(s.group, fromNode('B', batch('b', 6, 6)));
  await tick();
  assert.equal(sse, ['b1', 'gap evicted', 'b6']);
  assert.equal(
    events.map((e) => JSON.parse(e)),
    [{ requested: `${EPOCH}-1`, resumedFrom: `${EPOCH}-6`, reason: 'evicted' }],
  );
  assert.is(s.stats.problems.get('lost'), 4);
  assert.equal(s.sockets.got, ['b1', 'b6']);
});

test.run();
