/**
 * A fan-out turn's batches are encoded once, into one chunk (shared/sse.ts encodeBatches): the
 * chunk is every batch's events in order, and each batch keeps its own part as its encoding,
 * which replays from history reuse.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { framing } from '../../shared/framing/index.ts';
import type { Batch } from '../../shared/message.ts';
import { encodeBatch, encodeBatches } from '../../shared/sse.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const codec = framing('line');

function batch(firstSeq: number, payloads: string[]): Batch {
  const b = codec.encode(payloads.map((p) => enc.encode(p)));
  b.epoch = 1700000000000;
  b.firstSeq = firstSeq;
  b.time = 1700000000123;
  return b;
}

/** The same batches, numbered the same, never encoded. */
function turn(): Batch[] {
  return [batch(1, ['a', 'b']), batch(3, ['c\u00e9']), batch(4, ['\u0000bin', 'd'])];
}

test('a turn is one chunk of every batch in order, and each batch keeps its own part', () => {
  const alone = turn().map((b) => dec.decode(encodeBatch(b)));
  const batches = turn();
  // One batch encoded before the turn (a replay did): its encoding is copied in as it is.
  const early = encodeBatch(batches[1]);
  const chunk = encodeBatches(batches);
  assert.is(dec.decode(chunk), alone.join(''));
  for (const [i, b] of batches.entries()) {
    assert.is(dec.decode(b.sse as Uint8Array), alone[i], `batch ${i}`);
  }
  assert.is(batches[1].sse, early, 'an earlier encoding is kept');
  assert.is(batches[0].sse?.buffer, chunk.buffer, 'a view of the chunk, not a copy');
  assert.is(batches[2].sse?.buffer, chunk.buffer);
});

test('a holder is told about each encoding it now holds', () => {
  const batches = turn();
  const told: number[] = [];
  for (const b of batches) b.holder = { encoded: (x: Batch) => told.push(x.firstSeq) };
  encodeBatches(batches);
  assert.equal(told, [1, 3, 4]);
});

test.run();
