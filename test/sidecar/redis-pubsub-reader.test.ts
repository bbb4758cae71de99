import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PubSubReader,
  type Reply,
  type SkipRule,
} from '../../sidecar/backplane/redis/pubsub-reader.ts';

/** A message: channel, payload, skipped, came for a pattern. */
type Event = ['message', string, string, boolean, boolean] | ['reply', Reply];

function bulk(s: string | Buffer): string {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return `$${b.byteLength}\r\n${b.toString('latin1')}\r\n`;
}

const OWN = Buffer.from('\x01\x00\x05nodeA-own-batch-bytes');
const OTHER = Buffer.from('\x01\x00\x05nodeB-other-batch-bytes');
const SKIP: SkipRule = { prefix: Buffer.from('\x01\x00\x05nodeA'), keep: 10 };

/** What Redis sends a subscribed connection, in one stream (latin1 keeps bytes as they are). */
const STREAM = Buffer.from(
  [
    '+OK\r\n',
    `*3\r\n${bulk('subscribe')}${bulk('gc:ch:lobby')}:1\r\n`,
    `*3\r\n${bulk('message')}${bulk('gc:ch:lobby')}${bulk('1795308229733-42')}`,
    `*3\r\n${bulk('message')}${bulk('gc:ch:lobby')}${bulk(OWN)}`,
    `*3\r\n${bulk('message')}${bulk('gc:ch:lobby')}${bulk(OTHER)}`,
    `*3\r\n${bulk('message')}${bulk('gc:ch:lobby')}${bulk('')}`,
    `*3\r\n${bulk('psubscribe')}${bulk('gc:ch:l*')}:2\r\n`,
    `*4\r\n${bulk('pmessage')}${bulk('gc:ch:l*')}${bulk('gc:ch:lobby')}${bulk(OWN)}`,
    `*4\r\n${bulk('pmessage')}${bulk('gc:ch:l*')}${bulk('gc:ch:lobby')}${bulk(OTHER)}`,
    `*2\r\n${bulk('pong')}${bulk('')}`,
    '-NOPERM no permissions\r\n',
    ':3\r\n',
  ].join(''),
  'latin1',
);

/** Feeds `parts` through one reused buffer, scribbled over after each read, as the socket does. */
function read(parts: Buffer[], skip: SkipRule | null): Event[] {
  const events: Event[] = [];
  const reader = new PubSubReader(
    {
      message: (channel, payload, skipped, pattern) =>
        events.push([
          'message',
          channel,
          Buffer.from(payload).toString('latin1'),
          skipped,
          pattern,
        ]),
      reply: (value) => events.push(['reply', value]),
    },
    skip,
  );
  const reused = Buffer.alloc(STREAM.byteLength);
  for (const p of parts) {
    p.copy(reused);
    reader.feed(reused, 0, p.byteLength);
    reused.fill(0x78);
  }
  return events.map((e) =>
    e[0] === 'reply' && e[1] instanceof Error ? ['reply', `error: ${e[1].message}`] : e,
  );
}

const WHOLE: Event[] = [
  ['reply', 'OK'],
  ['reply', ['subscribe', 'gc:ch:lobby', 1]],
  ['message', 'gc:ch:lobby', '1795308229733-42', false, false],
  ['message', 'gc:ch:lobby', OWN.toString('latin1'), false, false],
  ['message', 'gc:ch:lobby', OTHER.toString('latin1'), false, false],
  ['message', 'gc:ch:lobby', '', false, false],
  ['reply', ['psubscribe', 'gc:ch:l*', 2]],
  ['message', 'gc:ch:lobby', OWN.toString('latin1'), false, true],
  ['message', 'gc:ch:lobby', OTHER.toString('latin1'), false, true],
  ['reply', ['pong', '']],
  ['reply', 'error: NOPERM no permissions'],
  ['reply', 3],
];

test('replies, messages and pmessages arrive whole and once, however the bytes are split', () => {
  assert.equal(read([STREAM], null), WHOLE);
  for (let cut = 1; cut < STREAM.byteLength; cut++) {
    assert.equal(read([STREAM.subarray(0, cut), STREAM.subarray(cut)], null), WHOLE, `cut ${cut}`);
  }
  const bytes = Array.from({ length: STREAM.byteLength }, (_, i) => STREAM.subarray(i, i + 1));
  assert.equal(read(bytes, null), WHOLE, 'one byte at a time');
});

test('a payload (of a message or a pmessage) starting with the skip prefix arrives as its first bytes only, marked skipped', () => {
  const want = WHOLE.map((e): Event => {
    if (e[0] === 'message' && e[2] === OWN.toString('latin1')) {
      return ['message', e[1], OWN.subarray(0, SKIP.keep).toString('latin1'), true, e[4]];
    }
    return e;
  });
  assert.equal(read([STREAM], SKIP), want);
  for (let cut = 1; cut < STREAM.byteLength; cut++) {
    assert.equal(read([STREAM.subarray(0, cut), STREAM.subarray(cut)], SKIP), want, `cut ${cut}`);
  }
});

test.run();
