import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockKind, SseBlockSplitter } from '../../shared/sse-blocks.ts';
import { SseParser } from '../../shared/sse-parser.ts';
import { parseIdBytes } from '../../shared/sse-run.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Seen {
  bytes: string;
  kind: number;
  hasData: boolean;
  id: string | null;
}

/** Feeds `chunks` to a splitter; every block as text, with what the splitter read in it. */
function split(chunks: Uint8Array[], max = 1 << 20): { blocks: Seen[]; error?: string } {
  const blocks: Seen[] = [];
  const s = new SseBlockSplitter((b) => {
    blocks.push({
      bytes: dec.decode(b.buf.subarray(b.start, b.end)),
      kind: b.kind,
      hasData: b.hasData,
      id: b.idStart < 0 ? null : dec.decode(b.buf.subarray(b.idStart, b.idEnd)),
    });
  }, max);
  try {
    for (const c of chunks) s.feed(c);
  } catch (err) {
    return { blocks, error: (err as { code?: string }).code };
  }
  return { blocks };
}

/** Events as SseParser dispatches them: [event, data, id]. */
function events(text: string): [string, string, string | undefined][] {
  const out: [string, string, string | undefined][] = [];
  new SseParser({ onEvent: (e) => out.push([e.event, dec.decode(e.data), e.id]) }).feed(
    enc.encode(text),
  );
  return out;
}

function cuts(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => a % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

const STREAM =
  'retry: 2000\n\n: heartbeat\n\nid: 5-1\nevent: message\ndata: hello\n\n' +
  'id: 5-2\nevent: binary\ndata: /w==\n\nevent: time\ndata: 1700000000000\n\n' +
  'event: gap\ndata: {"reason":"reset"}\n\nid: 5-3\ndata: two\ndata: lines\n\n' +
  'id: 5-4\n\nevent: close\ndata: {"code":"SHUTTING_DOWN"}\n\n';

test('cuts the stream the sidecar writes into its blocks, reading only ids and event names', () => {
  const { blocks } = split([enc.encode(STREAM)]);
  assert.equal(
    blocks.map((b) => [b.kind, b.hasData, b.id]),
    [
      [BlockKind.Message, false, null],
      [BlockKind.Message, false, null],
      [BlockKind.Message, true, '5-1'],
      [BlockKind.Binary, true, '5-2'],
      [BlockKind.Other, true, null],
      [BlockKind.Gap, true, null],
      [BlockKind.Message, true, '5-3'],
      [BlockKind.Message, false, '5-4'],
      [BlockKind.Close, true, null],
    ],
  );
  assert.is(blocks.map((b) => b.bytes).join(''), STREAM, 'every byte is in one block, in order');
});

const line = fc.stringMatching(/^[^\n\r]{0,12}$/);
const block = fc.oneof(
  fc.record({
    id: fc.option(fc.stringMatching(/^[0-9]{1,4}-[0-9]{1,4}$/), { nil: undefined }),
    event: fc.option(fc.constantFrom('message', 'binary', 'gap', 'close', 'time', 'x'), {
      nil: undefined,
    }),
    data: fc.array(line, { minLength: 0, maxLength: 3 }),
    comment: fc.boolean(),
  }),
);

test('property: any chunking gives the same blocks, and the blocks parse to the same events as the stream', () => {
  fc.assert(
    fc.property(
      fc.array(block, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (bs, at) => {
        const text = bs
          .map((b) => {
            let s = b.comment ? ': c\n' : '';
            if (b.id !== undefined) s += `id: ${b.id}\n`;
            if (b.event !== undefined) s += `event: ${b.event}\n`;
            for (const d of b.data) s += `data: ${d}\n`;
            return `${s}\n`;
          })
          .join('');
        const bytes = enc.encode(text);
        const whole = split([bytes]).blocks;
        assert.equal(split(cuts(bytes, at)).blocks, whole);
        assert.equal(events(whole.map((b) => b.bytes).join('')), events(text));
        const dispatched = events(text);
        const withData = whole.filter((b) => b.hasData);
        assert.is(withData.length, dispatched.length);
        withData.forEach((b, i) => {
          const [event, , id] = dispatched[i];
          assert.is(b.id ?? undefined, id);
          const kind = ['message', 'binary', 'gap', 'close'].indexOf(event);
          assert.is(b.kind, kind < 0 ? BlockKind.Other : kind);
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('a block spread over many chunks is joined once it ends; one past the limit throws MESSAGE_TOO_LARGE', () => {
  const big = `id: 1-1\ndata: ${'x'.repeat(5000)}\n\n`;
  const bytes = enc.encode(big);
  const oneByOne = Array.from(bytes, (b) => Uint8Array.of(b));
  const { blocks } = split(oneByOne);
  assert.is(blocks.length, 1);
  assert.is(blocks[0].bytes, big);
  const r = split(cuts(bytes, [100, 2000, 4000]), 1000);
  assert.is(r.error, 'MESSAGE_TOO_LARGE');
});

test('ids are read from bytes as parseId reads text', () => {
  const id = (s: string) => {
    const b = enc.encode(s);
    return parseIdBytes(b, 0, b.byteLength);
  };
  assert.equal(id('1700000000000-42'), { epoch: 1700000000000, seq: 42 });
  for (const bad of ['', '-', '1-', '-1', '1-2-3', 'a-1', '1-b', '1234567890123456-1', '1 -2']) {
    assert.is(id(bad), null, bad);
  }
});

test.run();
