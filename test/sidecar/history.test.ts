import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Batch, batchOf } from '../../shared/message.ts';
import { History, type MemoryLedger, BATCH_OVERHEAD_BYTES as O } from '../../sidecar/history.ts';

const enc = new TextEncoder();
let nextSeq = 1;
/** A batch numbered after the previous one, as a group would number it. */
function numbered(...texts: string[]): Batch {
  const b = batchOf(
    texts.map((t) => enc.encode(t)),
    1,
    nextSeq,
  );
  nextSeq += texts.length;
  return b;
}
test.before.each(() => {
  nextSeq = 1;
});

/** A ledger that sums what it is charged, as the memory budget does. */
class Ledger implements MemoryLedger {
  total = 0;
  charge(_kind: 'history', bytes: number): void {
    this.total += bytes;
  }
}

const seqs = (h: History, after = 0) => {
  const out: number[] = [];
  for (const b of h.after(after)) {
    for (let s = b.firstSeq; s <= b.lastSeq; s++) if (s > after && s >= h.firstSeq) out.push(s);
  }
  return out;
};

test('past maxMessages the oldest messages go, part of a batch if need be', () => {
  const h = new History(5, 1 << 20);
  const first = numbered('1', '2', '3');
  h.append(first);
  h.append(numbered('4', '5', '6'));
  assert.equal([h.messages, h.firstSeq, h.lastSeq, h.evictedSeq], [5, 2, 6, 1]);
  // The oldest batch is kept whole while any of it is held: its bytes still count.
  assert.is(h.bytes, 6);
  h.append(numbered('7', '8', '9', '10'));
  assert.equal([h.messages, h.firstSeq, h.lastSeq, h.evictedSeq], [5, 6, 10, 5]);
  assert.is(h.bytes, 3 + 5, 'the first batch is gone');
  assert.is(first.holder, undefined);
  assert.equal(seqs(h), [6, 7, 8, 9, 10]);
  assert.equal(seqs(h, 8), [9, 10]);
});

test('past maxBytes whole batches go, oldest first', () => {
  const h = new History(100, 10);
  h.append(numbered('aaaa'));
  h.append(numbered('bbbb'));
  assert.equal([h.messages, h.bytes, h.evictedSeq], [2, 8, 0]);
  h.append(numbered('cc', 'dd'));
  assert.equal([h.messages, h.bytes, h.firstSeq, h.evictedSeq], [3, 8, 2, 1]);
  h.append(numbered('eeeeeeeeeeee'));
  assert.equal(
    [h.messages, h.bytes, h.evictedSeq],
    [0, 0, 5],
    'a batch larger than maxBytes is not held',
  );
  assert.is(h.newest, undefined);
});

test('a history of zero holds nothing and remembers what it let go', () => {
  const h = new History(0, 1 << 20);
  h.append(numbered('a', 'b'));
  assert.equal([h.messages, h.bytes, h.evictedSeq, h.firstSeq], [0, 0, 2, 0]);
});

test("the ledger is charged wire, cached encodings and each batch's overhead, and given them back on every eviction", () => {
  const ledger = new Ledger();
  const h = new History(3, 1 << 20, ledger);
  const a = numbered('one', 'two');
  a.sse = new Uint8Array(40);
  h.append(a);
  assert.equal([h.bytes, h.encodedBytes, h.heldBytes, ledger.total], [6, 40, 46 + O, 46 + O]);
  const b = numbered('three', 'four');
  h.append(b);
  assert.is(ledger.total, h.heldBytes);
  // b's encoding is cached after it was kept (the first subscriber wrote it).
  b.sse = new Uint8Array(25);
  h.encoded(b);
  assert.equal([h.encodedBytes, ledger.total], [65, 6 + 9 + 65 + 2 * O]);
  const stray = numbered('not held');
  stray.sse = new Uint8Array(99);
  h.encoded(stray);
  assert.is(ledger.total, h.heldBytes, 'a batch it does not hold is not charged');
  h.append(numbered('five', 'six'));
  assert.is(a.holder, undefined);
  assert.equal([h.encodedBytes, ledger.total], [25, h.heldBytes]);
  h.clear();
  assert.equal([h.heldBytes, ledger.total, h.messages], [0, 0, 0]);
});

test('evictOldest drops the oldest batch and answers the bytes it freed', () => {
  const ledger = new Ledger();
  const h = new History(100, 1 << 20, ledger);
  assert.is(h.evictOldest(), 0);
  assert.is(h.oldestAt, Number.POSITIVE_INFINITY);
  const a = numbered('abc', 'de');
  a.sse = new Uint8Array(10);
  h.append(a);
  h.append(numbered('fgh'));
  assert.ok(h.oldestAt <= Date.now());
  assert.is(h.evictOldest(), 5 + 10 + O);
  assert.equal([h.messages, h.firstSeq, h.evictedSeq, ledger.total], [1, 3, 2, 3 + O]);
  assert.is(h.evictOldest(), 3 + O);
  assert.equal([h.messages, h.bytes, h.firstSeq, ledger.total], [0, 0, 0, 0]);
});

test('restart forgets what is held and continues after the given seq', () => {
  const h = new History(100, 1 << 20);
  h.append(numbered('a', 'b', 'c'));
  h.restart(40);
  assert.equal([h.messages, h.evictedSeq, h.lastSeq], [0, 40, 0]);
});

test.run();
