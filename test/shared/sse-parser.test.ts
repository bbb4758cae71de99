import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ParsedEvent, SseParser } from '../../shared/sse-parser.ts';

interface TextEvent {
  event: string;
  data: string;
  lastEventId: string;
}

/** Parses chunks; events as text, for readable expectations. */
function parse(chunks: (string | Uint8Array)[]): {
  events: TextEvent[];
  retries: number[];
  comments: string[];
} {
  const events: TextEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const p = new SseParser({
    onEvent: (e: ParsedEvent) =>
      events.push({
        event: e.event,
        data: new TextDecoder().decode(e.data),
        lastEventId: e.lastEventId,
      }),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  for (const c of chunks) p.feed(typeof c === 'string' ? new TextEncoder().encode(c) : c);
  return { events, retries, comments };
}

const STREAM =
  'retry: 2000\n\n: heartbeat\n\nid: 1-1\nevent: message\ndata: hello\n\nid: 1-2\nevent: binary\ndata: /w==\n\nevent: gap\ndata: {"a":1}\n\nid: 1-3\ndata: two\ndata: lines\n\n';

test('parses the stream the API writes', () => {
  const { events, retries, comments } = parse([STREAM]);
  assert.equal(retries, [2000]);
  assert.equal(comments, ['heartbeat']);
  assert.equal(events, [
    { event: 'message', data: 'hello', lastEventId: '1-1' },
    { event: 'binary', data: '/w==', lastEventId: '1-2' },
    { event: 'gap', data: '{"a":1}', lastEventId: '1-2' },
    { event: 'message', data: 'two\nlines', lastEventId: '1-3' },
  ]);
});

test('gives the same events for every split of the bytes, including inside a UTF-8 character', () => {
  const bytes = new TextEncoder().encode(`${STREAM}id: 1-4\ndata: héllo ✓ 🎮\n\n`);
  const whole = parse([bytes]).events;
  for (let cut = 1; cut < bytes.byteLength; cut++) {
    const split = parse([bytes.subarray(0, cut), bytes.subarray(cut)]).events;
    assert.equal(split, whole, `cut at ${cut}`);
  }
  const oneByOne = parse(Array.from(bytes, (b) => Uint8Array.of(b))).events;
  assert.equal(oneByOne, whole);
  assert.is(whole.at(-1)?.data, 'héllo ✓ 🎮');
});

test('accepts CRLF and lone CR line ends, also split between chunks', () => {
  const crlf = parse(['id: 7\r', '\ndata: a\r\n\r', '\n']).events;
  assert.equal(crlf, [{ event: 'message', data: 'a', lastEventId: '7' }]);
  const cr = parse(['data: b\r\rdata: c\r', '\r']).events;
  assert.equal(
    cr.map((e) => e.data),
    ['b', 'c'],
  );
});

test('follows the standard on odd fields', () => {
  const { events, retries } = parse([
    'data\n\n', // a field with no colon: empty data
    'data:no-space\n\n',
    'id: bad\u0000id\ndata: x\n\n', // an id with NUL is ignored
    'retry: soon\nunknown: y\ndata: z\n\n',
    'event: nothing\n\n', // no data: nothing dispatched
    'data: unfinished', // no blank line yet
  ]);
  assert.equal(
    events.map((e) => [e.event, e.data, e.lastEventId]),
    [
      ['message', '', ''],
      ['message', 'no-space', ''],
      ['message', 'x', ''],
      ['message', 'z', ''],
    ],
  );
  assert.equal(retries, []);
});

test('reset() drops a half-received event but keeps the last event id', () => {
  const events: ParsedEvent[] = [];
  const p = new SseParser({ onEvent: (e) => events.push(e) });
  p.feed(new TextEncoder().encode('id: 5\ndata: done\n\ndata: half'));
  p.reset();
  p.feed(new TextEncoder().encode('data: next\n\n'));
  assert.equal(
    events.map((e) => new TextDecoder().decode(e.data)),
    ['done', 'next'],
  );
  assert.is(p.lastEventId, '5');
});

test.run();
