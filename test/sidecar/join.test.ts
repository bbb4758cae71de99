import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JoinParser } from '../../sidecar/join.ts';

const enc = new TextEncoder();
const P = 'SOCKETFORWARDER-NEW:';
const code = (c: string) => (e: { code?: string }) => e.code === c;

function feed(parser: JoinParser, ...chunks: string[]) {
  let out = null;
  for (const c of chunks) out = parser.push(enc.encode(c));
  return out;
}

test('join: the group ends at the LF; the rest of the read is data', () => {
  const j = feed(new JoinParser(P), `${P}lobby\nhello`);
  assert.is(j?.group, 'lobby');
  assert.is(new TextDecoder().decode(j?.rest), 'hello');
});

test('join: a wrong prefix is refused when the whole line comes in one read, and split', () => {
  const line = 'SOCKETFORWARDER-OLD:lobby\n';
  assert.throws(() => feed(new JoinParser(P), line), code('BAD_JOIN'));
  assert.throws(() => feed(new JoinParser(P), line.slice(0, 5), line.slice(5)), code('BAD_JOIN'));
});

test('join: CRLF is accepted and the CR is not part of the id', () => {
  assert.is(feed(new JoinParser(P), `${P}lobby\r\n`)?.group, 'lobby');
});

test('join: split across reads at every position', () => {
  const line = `${P}group-1\n`;
  for (let i = 1; i < line.length; i++) {
    const j = feed(new JoinParser(P), line.slice(0, i), line.slice(i));
    assert.is(j?.group, 'group-1', `split at ${i}`);
  }
});

test('join: a wrong prefix is refused as soon as a byte differs', () => {
  const p = new JoinParser(P);
  assert.throws(() => p.push(enc.encode('GET / HTTP/1.1')), code('BAD_JOIN'));
  assert.throws(() => new JoinParser(P).push(enc.encode('\n')), code('BAD_JOIN'));
});

test('join: bad group ids are refused with INVALID_GROUP_ID', () => {
  for (const bad of ['', ' lead', 'tab\there', 'ctl\u0001', 'x'.repeat(201)]) {
    assert.throws(
      () => feed(new JoinParser(P), `${P}${bad}\n`),
      code('INVALID_GROUP_ID'),
      JSON.stringify(bad),
    );
  }
  const invalidUtf8 = new Uint8Array([...enc.encode(P), 0xff, 0xfe, 10]);
  assert.throws(() => new JoinParser(P).push(invalidUtf8), code('INVALID_GROUP_ID'));
  assert.is(
    feed(new JoinParser(P), `${P}${'é'.repeat(100)}\n`)?.group,
    'é'.repeat(100),
    '200 bytes is fine',
  );
  assert.throws(
    () => feed(new JoinParser(P), `${P}${'é'.repeat(100)}x\n`),
    code('INVALID_GROUP_ID'),
  );
});

test('join: a space separates the group id from a join secret', () => {
  const j = feed(new JoinParser(P), `${P}lobby s3cret value\r\n`);
  assert.is(j?.group, 'lobby');
  assert.is(j?.secret, 's3cret value');
  assert.is(feed(new JoinParser(P), `${P}lobby\n`)?.secret, undefined);
});

test('join: a join line that never ends is refused once it passes the longest possible', () => {
  const p = new JoinParser(P);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) p.push(enc.encode(i === 0 ? P : 'xxxxxxxxxx'));
  }, code('BAD_JOIN'));
});

test('join: SocketForwarder style (no LF) completes only with a full prefix and an id', () => {
  const p = new JoinParser(P);
  assert.is(p.push(enc.encode(P)), null);
  assert.not.ok(p.hasCandidate);
  p.push(enc.encode('legacy'));
  assert.ok(p.hasCandidate);
  assert.is(p.completeWithoutNewline().group, 'legacy');
});

test.run();
