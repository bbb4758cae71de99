import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { concatBytes } from '../../shared/bytes.ts';
import { GroupcastError } from '../../shared/errors.ts';
import { framing } from '../../shared/framing/index.ts';
import { JoinParser } from '../../sidecar/join.ts';

const RUNS = 300;
const LF = 10;
const CR = 13;

/** Cuts bytes at the given (sorted, de-duplicated) offsets into separate read buffers. */
function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const at = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const o of [...at, bytes.length]) {
    if (o > prev) parts.push(bytes.slice(prev, o));
    prev = Math.max(prev, o);
  }
  return parts;
}

/** Feeds reads to a decoder, collecting wire bytes and payloads until it throws. */
function drive(name: 'line' | 'raw' | 'length', max: number, parts: Uint8Array[]) {
  const d = framing(name).decoder(max);
  const wire: Uint8Array[] = [];
  const payloads: Uint8Array[] = [];
  let error: unknown;
  try {
    for (const p of parts) {
      const b = d.push(p);
      if (b) {
        wire.push(b.wire);
        for (let i = 0; i < b.count; i++) payloads.push(b.payload(i));
      }
      const bound = name === 'line' ? max + 1 : name === 'length' ? max + 4 : 0;
      if (d.buffered > bound) throw new Error(`held ${d.buffered} > ${bound}`);
    }
  } catch (err) {
    error = err;
  }
  return { wire: concatBytes(wire), payloads, error };
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const splits = fc.array(fc.nat(), { maxLength: 20 });

test('line decoder: random lines, random reads: payloads and bytes are exact', () => {
  const line = fc.uint8Array({ maxLength: 40 }).map((b) => b.map((x) => (x === LF ? 65 : x)));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(line, fc.boolean()), { maxLength: 30 }),
      splits,
      (lines, offsets) => {
        const input = concatBytes(
          lines.map(([l, crlf]) =>
            concatBytes([l, crlf ? Uint8Array.of(CR, LF) : Uint8Array.of(LF)]),
          ),
        );
        const out = drive('line', 1 << 20, cut(input, offsets));
        assert.is(out.error, undefined);
        assert.equal(out.wire, input);
        const expected = lines
          .map(([l, crlf]) =>
            !crlf && l.length > 0 && l[l.length - 1] === CR ? l.slice(0, -1) : l,
          )
          .filter((l) => l.length > 0);
        assert.equal(out.payloads, expected);
      },
    ),
    { numRuns: RUNS },
  );
});

test('length decoder: random frames, random reads: payloads and bytes are exact', () => {
  fc.assert(
    fc.property(fc.array(bytes(60), { maxLength: 30 }), splits, (frames, offsets) => {
      const input = frames.length
        ? framing('length').encode(frames.filter((f) => f.length > 0)).wire
        : new Uint8Array(0);
      const out = drive('length', 1 << 20, cut(input, offsets));
      assert.is(out.error, undefined);
      assert.equal(out.wire, input);
      assert.equal(
        out.payloads,
        frames.filter((f) => f.length > 0),
      );
    }),
    { numRuns: RUNS },
  );
});

for (const name of ['line', 'raw', 'length'] as const) {
  test(`${name} decoder: garbage never escapes as anything but MESSAGE_TOO_LARGE, and the limit holds`, () => {
    fc.assert(
      fc.property(bytes(2000), splits, fc.integer({ min: 1, max: 64 }), (input, offsets, max) => {
        const out = drive(name, max, cut(input, offsets));
        if (out.error !== undefined) {
          assert.ok(out.error instanceof GroupcastError, String(out.error));
          assert.is((out.error as GroupcastError).code, 'MESSAGE_TOO_LARGE');
        }
        for (const p of out.payloads) assert.ok(p.length <= max, `payload ${p.length} > ${max}`);
        // What was forwarded is exactly a prefix of what was sent.
        assert.equal(out.wire, input.subarray(0, out.wire.length));
      }),
      { numRuns: RUNS },
    );
  });
}

test('join parser: garbage only ever yields a join or a BAD_JOIN / INVALID_GROUP_ID error', () => {
  fc.assert(
    fc.property(bytes(600), splits, fc.boolean(), (input, offsets, withPrefix) => {
      const p = new JoinParser('SOCKETFORWARDER-NEW:');
      const data = withPrefix
        ? concatBytes([new TextEncoder().encode('SOCKETFORWARDER-NEW:'), input])
        : input;
      try {
        for (const part of cut(data, offsets)) if (p.push(part)) break;
        assert.ok(p.buffered <= 20 + 200 + 1 + 256 + 2);
      } catch (err) {
        assert.ok(err instanceof GroupcastError, String(err));
        assert.ok(['BAD_JOIN', 'INVALID_GROUP_ID'].includes((err as GroupcastError).code));
      }
    }),
    { numRuns: RUNS * 3 },
  );
});

test('join parser: a valid join line gives the same group and first data for any chunking', () => {
  const idChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.:/éü'.split(''));
  fc.assert(
    fc.property(
      fc
        .array(idChar, { minLength: 1, maxLength: 60 })
        .map((a) => a.join(''))
        // `.` and `..` are refused as group ids on every transport (tested where they are).
        .filter((g) => g !== '.' && g !== '..'),
      bytes(100),
      fc.boolean(),
      splits,
      (group, rest, crlf, offsets) => {
        const enc = new TextEncoder();
        const line = enc.encode(`SOCKETFORWARDER-NEW:${group}${crlf ? '\r\n' : '\n'}`);
        const parser = new JoinParser('SOCKETFORWARDER-NEW:');
        const parts = cut(concatBytes([line, rest]), offsets);
        let joined: ReturnType<JoinParser['push']> = null;
        const after: Uint8Array[] = [];
        for (const part of parts) {
          if (joined) after.push(part);
          else joined = parser.push(part);
        }
        assert.is(joined?.group, group);
        assert.equal(concatBytes([joined?.rest ?? new Uint8Array(0), ...after]), rest);
      },
    ),
    { numRuns: RUNS },
  );
});

test.run();
