import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../shared/options/sidecar.ts';
import { baseUrl, post } from '../helpers/http.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { sleep, waitFor } from '../helpers/sidecar.ts';
import { UdpPeer } from '../helpers/udp.ts';

const rig = new SidecarRig(test, { fresh: true });

test('POST reaches TCP, UDP and SSE members and answers 202 with ids and recipients', async () => {
  const t = await rig.tcp('udp');
  const u = await UdpPeer.open();
  rig.track(u);
  await u.register(rig.sc.addresses.udp as string);
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.udp === 1);
  const s = await rig.sse('udp');
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.sse === 1);
  const r = await post(rig.sc, 'udp', 'hello everyone');
  assert.is(r.status, 202);
  assert.is(r.json.recipients, 3);
  assert.is(r.json.ids.length, 1);
  assert.match(r.json.ids[0], /^\d+-1$/);
  await t.waitForText('hello everyone\n');
  assert.equal(await u.waitForCount(1), ['hello everyone']);
  const [m] = await s.waitForMessages(1);
  assert.equal(m, { id: r.json.ids[0], event: 'message', data: 'hello everyone' });
});

test('line framing: a POSTed message gets exactly one trailing newline for TCP members', async () => {
  const t = await rig.tcp('lines');
  await post(rig.sc, 'lines', 'no newline');
  await post(rig.sc, 'lines', 'has newline\n');
  await t.waitForText('has newline\n');
  assert.is(t.text, 'no newline\nhas newline\n');
});

test('line framing: a message with a newline inside is refused with 400 UNFRAMEABLE, not split', async () => {
  const t = await rig.tcp('unframeable');
  const r = await post(rig.sc, 'unframeable', 'two\nlines');
  assert.is(r.status, 400);
  assert.is(r.json.error.code, 'UNFRAMEABLE');
  await sleep(50);
  assert.is(t.received, 0);
  assert.is(rig.sc.hub.findGroup('unframeable')?.seq, 0);
});

test('raw framing carries newlines inside a message', async () => {
  await rig.restart({ tcpFraming: 'raw' });
  const t = await rig.tcp('raw');
  const r = await post(rig.sc, 'raw', 'two\nlines');
  assert.is(r.status, 202);
  await t.waitForText('two\nlines');
});

test('TCP and UDP members reach SSE subscribers', async () => {
  const s = await rig.sse('udp');
  await waitFor(() => rig.sc.hub.findGroup('udp')?.counts.sse === 1);
  const t = await rig.tcp('udp');
  t.write('from tcp\n');
  const u = await UdpPeer.open();
  rig.track(u);
  await s.waitForMessages(1);
  await u.send(rig.sc.addresses.udp as string, 'from udp');
  assert.equal(
    (await s.waitForMessages(2)).map((e) => e.data),
    ['from tcp', 'from udp'],
  );
});

test('an NDJSON body publishes one message per non-empty line, in order', async () => {
  const t = await rig.tcp('batch');
  const s = await rig.sse('batch');
  await waitFor(() => rig.sc.hub.findGroup('batch')?.counts.sse === 1);
  const body = '{"n":1}\n\n"two"\r\n[3]\n';
  const r = await post(rig.sc, 'batch', body, { 'Content-Type': 'application/x-ndjson' });
  assert.is(r.status, 202);
  assert.is(r.json.ids.length, 3);
  assert.is(r.json.recipients, 2);
  assert.equal(await s.waitForMessages(3).then((m) => m.map((e) => e.data)), [
    '{"n":1}',
    '"two"',
    '[3]',
  ]);
  assert.equal(
    s.messages().map((e) => e.id),
    r.json.ids,
  );
  await t.waitForText('[3]\n');
  assert.is(t.text, '{"n":1}\n"two"\n[3]\n');
});

test('a malformed NDJSON batch is refused with 400 and nothing from it is published', async () => {
  const t = await rig.tcp('badbatch');
  const r = await post(rig.sc, 'badbatch', '{"ok":1}\n{broken\n{"ok":2}\n', {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(r.status, 400);
  assert.is(r.json.error.code, 'INVALID_NDJSON');
  assert.match(r.json.error.message, /line 2/);
  await sleep(50);
  assert.is(t.received, 0);
  assert.is(rig.sc.hub.findGroup('badbatch')?.seq, 0);
});

/** Payloads as an application/x-groupcast-frames body: a 4-byte big-endian length before each. */
function frames(...parts: (string | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const joined = Buffer.concat(
    parts.map((p) => {
      const bytes = Buffer.from(p);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(bytes.length);
      return Buffer.concat([head, bytes]);
    }),
  );
  return new Uint8Array(joined);
}

test('a frames body publishes each length-prefixed message of any bytes, in order', async () => {
  await rig.restart({ tcpFraming: 'raw' });
  const s = await rig.sse('framed');
  await waitFor(() => rig.sc.hub.findGroup('framed')?.counts.sse === 1);
  const bin = new Uint8Array([0, 255, 10, 13]);
  const r = await post(rig.sc, 'framed', frames('one', bin, 'two\nlines'), {
    'Content-Type': 'application/x-groupcast-frames',
  });
  assert.is(r.status, 202);
  assert.is(r.json.ids.length, 3);
  const got = await s.waitForMessages(3);
  assert.equal(
    got.map((e) => e.id),
    r.json.ids,
  );
  assert.is(got[0].data, 'one');
  assert.equal(new Uint8Array(Buffer.from(got[1].data, 'base64')), bin);
  assert.is(got[2].data, 'two\nlines');
});

test('a bad frames body is refused whole with a stable code and publishes nothing', async () => {
  const t = await rig.tcp('badframes');
  const type = { 'Content-Type': 'application/x-groupcast-frames' };
  const cut = frames('ok', 'cut short').subarray(0, 12);
  const cases: [Uint8Array<ArrayBuffer>, number, string][] = [
    [cut, 400, 'BAD_REQUEST'],
    [frames('ok', ''), 400, 'EMPTY_MESSAGE'],
    [frames('ok', 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES + 1)), 413, 'MESSAGE_TOO_LARGE'],
    [frames('ok', 'two\nlines'), 400, 'UNFRAMEABLE'],
  ];
  for (const [body, status, code] of cases) {
    const r = await post(rig.sc, 'badframes', body, type);
    assert.is(r.status, status, code);
    assert.is(r.json.error.code, code);
  }
  await sleep(50);
  assert.is(t.received, 0);
  assert.is(rig.sc.hub.findGroup('badframes')?.seq, 0);
});

test('binary payloads travel as event: binary with base64 data; CR is kept exactly', async () => {
  await rig.restart({ tcpFraming: 'raw' });
  const s = await rig.sse('bin');
  await waitFor(() => rig.sc.hub.findGroup('bin')?.counts.sse === 1);
  const bytes = new Uint8Array([0, 255, 254, 10, 13, 1]);
  await post(rig.sc, 'bin', bytes);
  await post(rig.sc, 'bin', 'crlf\r\ntext');
  await post(rig.sc, 'bin', 'héllo\nwörld');
  const [a, b, c] = await s.waitForMessages(3);
  assert.is(a.event, 'binary');
  assert.equal(new Uint8Array(Buffer.from(a.data, 'base64')), bytes);
  assert.is(b.event, 'binary');
  assert.is(Buffer.from(b.data, 'base64').toString(), 'crlf\r\ntext');
  assert.is(c.event, 'message');
  assert.is(c.data, 'héllo\nwörld', 'multi-line UTF-8 text as several data: lines');
});

test('errors: each bad request gets its status and a stable code', async () => {
  const url = baseUrl(rig.sc);
  const cases: [string, RequestInit, number, string][] = [
    ['/groups/bad%20id/messages', { method: 'POST', body: 'x' }, 400, 'INVALID_GROUP_ID'],
    [`/groups/${'g'.repeat(201)}/messages`, { method: 'POST', body: 'x' }, 400, 'INVALID_GROUP_ID'],
    ['/groups/ok/messages', { method: 'POST', body: '' }, 400, 'EMPTY_MESSAGE'],
    [
      '/groups/ok/messages',
      { method: 'POST', body: '\n\n', headers: { 'Content-Type': 'application/x-ndjson' } },
      400,
      'EMPTY_MESSAGE',
    ],
    [
      '/groups/ok/messages',
      { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) },
      413,
      'MESSAGE_TOO_LARGE',
    ],
    ['/groups/ok/messages', { method: 'PUT', body: 'x' }, 405, 'METHOD_NOT_ALLOWED'],
    ['/groups/ok/messages?limit=0', {}, 400, 'BAD_REQUEST'],
    ['/groups/nobody-here', {}, 404, 'GROUP_NOT_FOUND'],
    ['/no/such/route', {}, 404, 'NOT_FOUND'],
    ['/groups/bad%01/events', {}, 400, 'INVALID_GROUP_ID'],
  ];
  for (const [path, init, status, code] of cases) {
    const res = await fetch(`${url}${path}`, init);
    assert.is(res.status, status, `${init.method ?? 'GET'} ${path.slice(0, 40)}`);
    assert.is((await res.json()).error.code, code, path.slice(0, 40));
  }
});

test('413 for an oversized chunked body is answered while streaming, before it all arrives', async () => {
  await rig.restart({ maxMessageBytes: 64 * 1024 });
  let sent = 0;
  let stop = false;
  const chunk = new Uint8Array(16 * 1024).fill(120);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // An endless body: only a server that checks while streaming can answer.
      if (stop || sent > 64 * 1024 * 1024) {
        controller.close();
        return;
      }
      sent += chunk.byteLength;
      controller.enqueue(chunk);
      await sleep(1);
    },
  });
  const res = await fetch(`${baseUrl(rig.sc)}/groups/big/messages`, {
    method: 'POST',
    body,
    duplex: 'half',
  } as RequestInit);
  stop = true;
  assert.is(res.status, 413);
  assert.is((await res.json()).error.code, 'MESSAGE_TOO_LARGE');
  assert.ok(sent < 8 * 1024 * 1024, `answered after ${sent} bytes`);
});

test('413 BODY_TOO_LARGE for an NDJSON batch over maxBodyBytes', async () => {
  await rig.restart({ maxBodyBytes: 1024, maxMessageBytes: 512 });
  const r = await post(rig.sc, 'b', '{"x":1}\n'.repeat(200), {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(r.status, 413);
  assert.is(r.json.error.code, 'BODY_TOO_LARGE');
});

test.run();
