import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batch } from '../../shared/message.ts';
import { encodeBatch, encodeBatchAfter, encodeBatches } from '../../shared/sse.ts';

const strict = new TextDecoder('utf-8', { fatal: true });

/** What an event must be, written the plain way: strings, one message at a time. */
function expected(payload: Uint8Array, id: string): string {
  let text: string | null = null;
  try {
    text = strict.decode(payload);
  } catch {}
  if (text !== null && !text.includes('\r')) {
    return `id: ${id}\nevent: message\ndata: ${text.split('\n').join('\ndata: ')}\n\n`;
  }
  return `id: ${id}\nevent: binary\ndata: ${Buffer.from(payload).toString('base64')}\n\n`;
}

/** A batch as a TCP read makes it: payloads with a separator between them in one buffer. */
function batchOf(
  payloads: Uint8Array[],
  epoch: number,
  firstSeq: number,
  time = 1_700_000_000_000,
): Batch {
  const parts: number[] = [];
  const bounds = new Uint32Array(payloads.length * 2);
  payloads.forEach((p, i) => {
    bounds[2 * i] = parts.length;
    parts.push(...p);
    bounds[2 * i + 1] = parts.length;
    parts.push(10);
  });
  const b = new Batch(Uint8Array.from(parts), bounds, payloads.length, parts.length);
  b.epoch = epoch;
  b.firstSeq = firstSeq;
  b.time = time;
  return b;
}

const payload = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
  fc.stringMatching(/^[a-z\r\n]{0,20}$/).map((s) => new TextEncoder().encode(s)),
  fc.uint8Array({ maxLength: 40 }),
);
const shape = fc.record({
  payloads: fc.array(payload, { minLength: 1, maxLength: 12 }),
  epoch: fc.oneof(fc.constant(1_764_660_000_000), fc.nat({ max: 999_999_999_999_999 })),
  firstSeq: fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 2 ** 40 })),
  // A publish time in ms: now-ish, any whole number, or one a peer sent oddly (kept as printed).
  time: fc.oneof(
    fc.constant(1_764_660_000_123),
    fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    fc.double({ noNaN: true }),
  ),
});

test('encodeBatch writes each message as the plain string encoding would (ids, text, binary)', () => {
  fc.assert(
    fc.property(shape, ({ payloads, epoch, firstSeq, time }) => {
      const b = batchOf(payloads, epoch, firstSeq, time);
      const want =
        `event: time\ndata: ${b.time}\n\n` +
        payloads.map((p, i) => expected(p, `${epoch}-${firstSeq + i}`)).join('');
      assert.is(
        Buffer.from(encodeBatch(b)).toString('latin1'),
        Buffer.from(want).toString('latin1'),
      );
    }),
    { numRuns: 300 },
  );
});

test('encodeBatchAfter starts after the id asked for; encodeBatches joins batches whole', () => {
  fc.assert(
    fc.property(shape, fc.nat(), ({ payloads, epoch, firstSeq }, cut) => {
      const after = firstSeq - 1 + (cut % (payloads.length + 1));
      const b = batchOf(payloads, epoch, firstSeq);
      const want =
        `event: time\ndata: ${b.time}\n\n` +
        payloads
          .map((p, i) => (firstSeq + i > after ? expected(p, `${epoch}-${firstSeq + i}`) : ''))
          .join('');
      assert.is(
        Buffer.from(encodeBatchAfter(b, after)).toString('latin1'),
        Buffer.from(want).toString('latin1'),
      );
      const c = batchOf(payloads, epoch, firstSeq + payloads.length);
      const joined = Buffer.from(encodeBatches([batchOf(payloads, epoch, firstSeq), c]));
      const one = Buffer.from(encodeBatch(batchOf(payloads, epoch, firstSeq)));
      assert.ok(joined.subarray(0, one.length).equals(one));
      assert.ok(joined.subarray(one.length).equals(Buffer.from(encodeBatch(c))));
    }),
    { numRuns: 200 },
  );
});

test.run();
