import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitNdjson } from '../../api/body.ts';
import {
  EmptyMessageError,
  InvalidNdjsonError,
  MessageTooLargeError,
  TooManyMessagesError,
} from '../../shared/errors.ts';

const strict = new TextDecoder('utf-8', { fatal: true });

/** The rules, one line at a time: what splitNdjson must answer, result or first fault. */
function reference(body: Uint8Array, maxBytes: number, maxMessages: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  let line = 1;
  while (start < body.byteLength) {
    let lf = body.indexOf(10, start);
    if (lf < 0) lf = body.byteLength;
    let end = lf;
    if (end > start && body[end - 1] === 13) end--;
    if (end > start) {
      if (out.length === maxMessages) throw new TooManyMessagesError(maxMessages);
      const bytes = body.subarray(start, end);
      if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(maxBytes);
      try {
        JSON.parse(strict.decode(bytes));
      } catch (err) {
        throw new InvalidNdjsonError(`line ${line} is not JSON: ${(err as Error).message}`);
      }
      out.push(bytes);
    }
    start = lf + 1;
    line++;
  }
  if (out.length === 0) throw new EmptyMessageError();
  return out;
}

async function outcome(fn: () => Promise<Uint8Array[]> | Uint8Array[]): Promise<string> {
  try {
    const parts = await fn();
    return JSON.stringify(parts.map((p) => Buffer.from(p).toString('hex')));
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const enc = (s: string) => [...new TextEncoder().encode(s)];
const lineBytes = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => enc(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.constantFrom(enc(''), enc('\r'), enc('  '), enc('{"a":'), enc('x')) },
  { weight: 1, arbitrary: fc.constant([0xef, 0xbb, 0xbf, ...enc('{"bom":1}')]) },
  { weight: 1, arbitrary: fc.constant([...enc('"a'), 0xff, ...enc('"')]) },
  { weight: 1, arbitrary: fc.constant(enc(`"${'y'.repeat(300)}"`)) },
);
const bodies = fc
  .oneof(
    fc.array(fc.tuple(lineBytes, fc.constantFrom('\n', '\r\n')), { maxLength: 8 }),
    fc.array(fc.tuple(lineBytes, fc.constantFrom('\n', '\r\n')), { maxLength: 150 }),
  )
  .chain((lines) =>
    fc.tuple(fc.constant(lines), fc.boolean()).map(([ls, lastEol]) => {
      const bytes: number[] = [];
      ls.forEach(([l, eol], i) => {
        bytes.push(...l);
        if (i < ls.length - 1 || lastEol) bytes.push(...enc(eol));
      });
      return Uint8Array.from(bytes);
    }),
  );

test('splitNdjson answers as a line-by-line reading does: messages, or the first fault in its words', async () => {
  await fc.assert(
    fc.asyncProperty(
      bodies,
      fc.constantFrom(100, 1_000_000),
      fc.constantFrom(3, 70, 10_000),
      async (body, maxBytes, maxMessages) => {
        const want = await outcome(() => reference(body, maxBytes, maxMessages));
        const got = await outcome(() => splitNdjson(body, maxBytes, maxMessages));
        assert.is(got, want);
      },
    ),
    { numRuns: 400 },
  );
});

// Runs of lines are checked together (64 at a time): a fault, or a line only the line-by-line
// reading takes (a BOM inside a run), sends the run back to it; numbering must go on right after.
test('line numbers and limits hold across runs of lines', async () => {
  const good = '{"n":1}';
  const bom = `\ufeff${good}`;
  const lines = Array.from({ length: 140 }, () => good);
  lines[1] = bom;
  lines[99] = '{"n":';
  const body = new TextEncoder().encode(lines.join('\n'));
  for (const [maxMessages, maxBytes] of [
    [10_000, 1_000],
    [99, 1_000],
    [64, 1_000],
    [65, 1_000],
  ]) {
    const want = await outcome(() => reference(body, maxBytes, maxMessages));
    assert.is(await outcome(() => splitNdjson(body, maxBytes, maxMessages)), want);
  }
  assert.match(await outcome(() => splitNdjson(body, 1_000, 10_000)), /line 100 is not JSON/);
  const exact = new TextEncoder().encode(Array.from({ length: 4 }, () => good).join('\n'));
  assert.match(await outcome(() => splitNdjson(exact, 1_000, 3)), /TooManyMessages/);
});

test.run();
