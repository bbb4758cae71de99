import assert from 'node:assert/strict';
import { textDecoder, textEncoder } from '../../shared/bytes.ts';
import { batchOf } from '../../shared/message.ts';
import { encodeBatch } from '../../shared/sse.ts';
import { type ParsedEvent, SseParser } from '../../shared/sse-parser.ts';

function parse(chunks: Uint8Array[]): { events: ParsedEvent[]; comments: string[] } {
  const events: ParsedEvent[] = [];
  const comments: string[] = [];
  const p = new SseParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) });
  for (const c of chunks) p.feed(c);
  return { events, comments };
}

const text = (e: ParsedEvent) => ({ id: e.id, event: e.event, data: textDecoder.decode(e.data) });

const STREAM =
  'retry: 2000\n\n: heartbeat\n\nid: 5-1\nevent: message\ndata: one\n\n' +
  'id: 5-2\ndata: two\ndata: lines\n\nevent: gap\ndata: {"reason":"reset"}\n\n';
const WANT = [
  { id: '5-1', event: 'message', data: 'one' },
  { id: '5-2', event: 'message', data: 'two\nlines' },
  { id: undefined, event: 'gap', data: '{"reason":"reset"}' },
];

Deno.test('parses events, multi-line data and comments', () => {
  const { events, comments } = parse([textEncoder.encode(STREAM)]);
  assert.deepEqual(events.map(text), WANT);
  assert.deepEqual(comments, ['heartbeat']);
});

Deno.test('gives the same events whatever the chunk boundaries', () => {
  const bytes = textEncoder.encode(STREAM);
  for (let cut = 1; cut < bytes.byteLength; cut++) {
    const { events } = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(events.map(text), WANT, `cut at ${cut}`);
  }
  const { events } = parse([...bytes].map((b) => new Uint8Array([b])));
  assert.deepEqual(events.map(text), WANT, 'one byte at a time');
});

Deno.test('CRLF and lone CR end lines too, also across chunks', () => {
  const crlf = STREAM.replace(/\n/g, '\r\n');
  const cr = STREAM.replace(/\n/g, '\r');
  for (const s of [crlf, cr]) {
    const bytes = textEncoder.encode(s);
    assert.deepEqual(parse([bytes]).events.map(text), WANT);
    for (let cut = 1; cut < bytes.byteLength; cut++) {
      const { events } = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(events.map(text), WANT, `cut at ${cut}`);
    }
  }
});

Deno.test('a field without a space after the colon, and a block without data, dispatch as the spec says', () => {
  const { events } = parse([textEncoder.encode('id:7-1\nevent:x\n\nid: 7-2\ndata:v\n\n')]);
  assert.deepEqual(events.map(text), [{ id: '7-2', event: 'message', data: 'v' }]);
});

Deno.test('reads back exactly what the sidecar encodes, text and binary', () => {
  const payloads = [
    textEncoder.encode('plain'),
    textEncoder.encode('two\nlines'),
    new Uint8Array([0, 255, 13, 10]),
    textEncoder.encode('crlf\r\ninside'),
  ];
  const wire = encodeBatch(batchOf(payloads, 9, 1, 1764553805123));
  const { events: all } = parse([wire]);
  // The publish time comes first, once for the batch, and moves no event id.
  assert.deepEqual([all[0].id, all[0].event, all[0].lastEventId], [undefined, 'time', '']);
  assert.equal(textDecoder.decode(all[0].data), '1764553805123');
  const events = all.slice(1);
  assert.deepEqual(
    events.map((e) => [e.id, e.event]),
    [
      ['9-1', 'message'],
      ['9-2', 'message'],
      ['9-3', 'binary'],
      ['9-4', 'binary'],
    ],
  );
  assert.equal(textDecoder.decode(events[1].data), 'two\nlines');
  assert.deepEqual(
    Uint8Array.from(atob(textDecoder.decode(events[2].data)), (c) => c.charCodeAt(0)),
    payloads[2],
  );
});
