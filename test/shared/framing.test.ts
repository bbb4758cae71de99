import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { concatBytes } from '../../shared/bytes.ts';
import { framing } from '../../shared/framing/index.ts';
import type { Batch } from '../../shared/message.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A small deterministic PRNG so a failing split can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function splitRandomly(bytes: Uint8Array, rand: () => number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const n = 1 + Math.floor(rand() * Math.min(64, bytes.byteLength - at));
    // Copies, as separate reads are separate buffers.
    parts.push(bytes.slice(at, at + n));
    at += n;
  }
  return parts;
}

function decodeAll(name: 'line' | 'raw' | 'length', parts: Uint8Array[], max = 1 << 20) {
  const d = framing(name).decoder(max);
  const batches: Batch[] = [];
  for (const p of parts) {
    const b = d.push(p);
    if (b) batches.push(b);
  }
  const payloads = batches.flatMap((b) =>
    Array.from({ length: b.count }, (_, i) => dec.decode(b.payload(i))),
  );
  return { wire: concatBytes(batches.map((b) => b.wire)), payloads, held: d.buffered };
}

test('line framing: any chunking gives the same messages and the same bytes', () => {
  const lines = Array.from({ length: 300 }, (_, i) => `message ${i} ${'x'.repeat(i % 37)}`);
  const text = `${lines.map((l, i) => (i % 5 === 0 ? `${l}\r\n` : `${l}\n`)).join('')}`;
  const bytes = enc.encode(text);
  for (let seed = 1; seed <= 50; seed++) {
    const out = decodeAll('line', splitRandomly(bytes, rng(seed)));
    assert.equal(out.payloads, lines, `seed ${seed}`);
    assert.equal(dec.decode(out.wire), text, `seed ${seed}: wire bytes`);
    assert.is(out.held, 0);
  }
});

test('line framing: blank lines are forwarded but are not messages', () => {
  const out = decodeAll('line', [enc.encode('a\n\n\r\nb\n')]);
  assert.equal(out.payloads, ['a', 'b']);
  assert.is(dec.decode(out.wire), 'a\n\n\r\nb\n');
});

test('line framing: an unfinished line is held, not forwarded', () => {
  const out = decodeAll('line', [enc.encode('one\ntw')]);
  assert.equal(out.payloads, ['one']);
  assert.is(dec.decode(out.wire), 'one\n');
  assert.is(out.held, 2);
});

test('line framing: a large line finished by a read keeps none of the next line with it', () => {
  // Its batch sits in queues and history for a while: it must not hold the next line's bytes.
  const d = framing('line').decoder(1 << 20);
  assert.is(d.push(new Uint8Array(40_000).fill(97)), null);
  const next = new Uint8Array(31_001).fill(98);
  next[1000] = 10;
  const b = d.push(next) as Batch;
  assert.is(b.count, 1);
  assert.is(b.payload(0).byteLength, 41_000);
  assert.is(b.wire.byteLength, 41_001);
  assert.is(b.wire.buffer.byteLength, 41_001);
  assert.is(d.buffered, 30_000);
});

test('line framing: a large partial line kept from a read counts the whole read as its memory', () => {
  // The part is kept, not copied, so the read it lives in is what the budget must be charged.
  const d = framing('line').decoder(1 << 20);
  const read = new Uint8Array(10_000).fill(97);
  read[3000] = 10;
  assert.is(d.push(read)?.count, 1);
  assert.is(d.buffered, 6999);
  assert.is(d.memory, 10_000);
  // A small tail of a large read is copied: it must not hold the read alive.
  const d2 = framing('line').decoder(1 << 20);
  const read2 = new Uint8Array(20_000).fill(97);
  read2[15_000] = 10;
  d2.push(read2);
  assert.is(d2.buffered, 4999);
  assert.is(d2.memory, 4999);
});

test('line framing: a kept partial line then trickled bytes decode to the exact line', () => {
  const d = framing('line').decoder(1 << 20);
  const first = new Uint8Array(8000).fill(97);
  assert.is(d.push(first), null);
  assert.is(d.push(enc.encode('b')), null);
  assert.is(d.push(enc.encode('cd')), null);
  first.fill(120); // the caller's read, changed after: what was held must not change with it
  const b = d.push(enc.encode('e\nf')) as Batch;
  assert.is(b.count, 1);
  assert.is(dec.decode(b.payload(0)), `${'a'.repeat(8000)}bcde`);
  assert.is(d.buffered, 1);
});

test('line framing: a line over the limit throws MESSAGE_TOO_LARGE, split or whole', () => {
  const d = framing('line').decoder(10);
  assert.throws(
    () => d.push(enc.encode('0123456789A\n')),
    (e: { code: string }) => e.code === 'MESSAGE_TOO_LARGE',
  );
  const d2 = framing('line').decoder(10);
  d2.push(enc.encode('01234567'));
  assert.throws(
    () => d2.push(enc.encode('89AB')),
    (e: { code: string }) => e.code === 'MESSAGE_TOO_LARGE',
  );
  const d3 = framing('line').decoder(10);
  assert.is(
    d3.push(enc.encode('0123456789\r\n'))?.count,
    1,
    'exactly the limit is fine, CR excluded',
  );
});

test('length framing: any chunking gives the same messages and the same bytes', () => {
  const payloads = Array.from({ length: 200 }, (_, i) => `p${i}:${'\n\r\0'.repeat(i % 7)}`);
  const wire = framing('length').encode(payloads.map((p) => enc.encode(p))).wire;
  for (let seed = 1; seed <= 50; seed++) {
    const out = decodeAll('length', splitRandomly(wire, rng(seed)));
    assert.equal(out.payloads, payloads, `seed ${seed}`);
    assert.equal(out.wire, wire, `seed ${seed}: wire bytes`);
  }
});

test('length framing: a header announcing more than the limit throws before the payload arrives', () => {
  const d = framing('length').decoder(100);
  d.push(Uint8Array.of(0, 0));
  assert.throws(
    () => d.push(Uint8Array.of(0, 101)),
    (e: { code: string }) => e.code === 'MESSAGE_TOO_LARGE',
  );
});

test('raw framing: each read is one message; a read over the limit is split at the limit', () => {
  const out = decodeAll('raw', [enc.encode('abc'), enc.encode('defgh')], 4);
  assert.equal(out.payloads, ['abc', 'defg', 'h']);
  assert.is(dec.decode(out.wire), 'abcdefgh');
});

test('line encode: adds the newline, keeps one that is there, refuses one inside', () => {
  const f = framing('line');
  const b = f.encode([enc.encode('a'), enc.encode('b\n'), enc.encode('c\r\n')]);
  assert.is(dec.decode(b.wire), 'a\nb\nc\r\n');
  assert.equal(
    [0, 1, 2].map((i) => dec.decode(b.payload(i))),
    ['a', 'b', 'c'],
  );
  assert.throws(
    () => f.encode([enc.encode('a\nb')]),
    (e: { code: string }) => e.code === 'UNFRAMEABLE',
  );
  assert.throws(
    () => f.encode([enc.encode('\n')]),
    (e: { code: string }) => e.code === 'EMPTY_MESSAGE',
  );
});

test.run();
