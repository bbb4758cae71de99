// Reading the sidecar's HTTP/1.1 answers off the edge's pipelined connection (http-answer.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Answer, parseAnswer } from '../../api/edge/http-answer.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

const sized = (status: number, body: string, extra = '') =>
  `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${extra}Content-Length: ${enc.encode(body).byteLength}\r\n\r\n${body}`;
const chunked = (status: number, parts: string[]) =>
  `HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n${parts
    .map((p) => `${enc.encode(p).byteLength.toString(16)}\r\n${p}\r\n`)
    .join('')}0\r\n\r\n`;

/** Every answer in `wire`, or the error that stopped the reading. */
function readAll(wire: Uint8Array): {
  answers: { status: number; body: string; close: boolean }[];
  rest: number;
} {
  const answers = [];
  let buf = wire;
  for (;;) {
    const a = parseAnswer(buf);
    if (a === null) return { answers, rest: buf.byteLength };
    if (a instanceof Error) throw a;
    answers.push({ status: a.status, body: dec.decode(a.body), close: a.close });
    buf = buf.subarray((a as Answer).length);
  }
}

test('back-to-back answers, sized and chunked, are read in order at every split of the bytes', () => {
  const wire = enc.encode(
    sized(202, '{"ids":["1-1"],"recipients":0}') +
      chunked(413, ['{"error":', '{"code":"MESSAGE_TOO_LARGE"}}']) +
      sized(202, '{"ids":["1-2"],"recipients":1}', 'Connection: close\r\n'),
  );
  const expected = [
    { status: 202, body: '{"ids":["1-1"],"recipients":0}', close: false },
    { status: 413, body: '{"error":{"code":"MESSAGE_TOO_LARGE"}}', close: false },
    { status: 202, body: '{"ids":["1-2"],"recipients":1}', close: true },
  ];
  assert.equal(readAll(wire), { answers: expected, rest: 0 });
  // The bytes arrive in two reads split anywhere: nothing is read before it is whole.
  for (let cut = 0; cut <= wire.byteLength; cut++) {
    const first = readAll(wire.subarray(0, cut));
    const done = first.answers.length;
    const restAt = cut - first.rest;
    const second = readAll(wire.subarray(restAt));
    assert.equal([...first.answers, ...second.answers], expected, `cut at ${cut}`);
    assert.ok(done <= expected.length);
  }
});

test('what is not an answer the edge can read is an error, not a wait', () => {
  assert.instance(parseAnswer(enc.encode('SSH-2.0-OpenSSH\r\n\r\n')), Error);
  assert.instance(parseAnswer(enc.encode('HTTP/1.1 202 X\r\nContent-Length: nope\r\n\r\n')), Error);
  assert.instance(parseAnswer(enc.encode('HTTP/1.1 202 X\r\n\r\n')), Error);
  assert.instance(
    parseAnswer(enc.encode('HTTP/1.1 202 X\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')),
    Error,
  );
  assert.instance(parseAnswer(new Uint8Array(20_000).fill(65)), Error);
  assert.is(parseAnswer(enc.encode('HTTP/1.1 202 X\r\nContent-Le')), null);
});

test.run();
