import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type HistoryWindowSeqs, resolveStart } from '../../sidecar/replay.ts';

const E = 1_700_000_000_000;
/** Ids 1..20 issued, 1..10 evicted, 11..20 held. */
const W: HistoryWindowSeqs = { epoch: E, seq: 20, evictedSeq: 10, firstSeq: 11 };
const after = (id: string, w = W) => resolveStart({ kind: 'after', id }, w);

test('live starts after the newest id; earliest at the oldest held', () => {
  assert.equal(resolveStart({ kind: 'live' }, W), { afterSeq: 20, gap: null });
  assert.equal(resolveStart({ kind: 'earliest' }, W), { afterSeq: 10, gap: null });
  const empty = { epoch: E, seq: 0, evictedSeq: 0, firstSeq: 0 };
  assert.equal(resolveStart({ kind: 'earliest' }, empty), { afterSeq: 0, gap: null });
});

test('an id still held resumes right after it, with no gap', () => {
  assert.equal(after(`${E}-15`), { afterSeq: 15, gap: null });
  assert.equal(after(`${E}-20`), { afterSeq: 20, gap: null });
  // The newest evicted id: everything after it is held, so nothing was lost.
  assert.equal(after(`${E}-10`), { afterSeq: 10, gap: null });
});

test('an evicted id resumes at the oldest held with an evicted gap', () => {
  assert.equal(after(`${E}-9`), {
    afterSeq: 10,
    gap: { requested: `${E}-9`, resumedFrom: `${E}-11`, reason: 'evicted' },
  });
});

test('an id from an earlier run is a reset; one never issued or unreadable is unknown', () => {
  assert.equal(after(`${E - 5}-3`).gap?.reason, 'reset');
  assert.equal(after(`${E}-21`).gap?.reason, 'unknown');
  assert.equal(after(`${E + 1}-1`).gap?.reason, 'unknown');
  assert.equal(after('not-an-id'), {
    afterSeq: 10,
    gap: { requested: 'not-an-id', resumedFrom: `${E}-11`, reason: 'unknown' },
  });
});

test('with nothing held, a gap says nothing can be resumed from', () => {
  const gone = { epoch: E, seq: 20, evictedSeq: 20, firstSeq: 0 };
  assert.equal(after(`${E}-5`, gone), {
    afterSeq: 0,
    gap: { requested: `${E}-5`, resumedFrom: null, reason: 'evicted' },
  });
  assert.equal(after(`${E}-20`, gone), { afterSeq: 20, gap: null });
});

test.run();
