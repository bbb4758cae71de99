// Hostile and careless HTTP input (issue 12): each case gets a clear answer and leaves nothing
// behind. In-process sidecar; timing and memory under the largest NDJSON bodies are checked
// against a sidecar process in test/sidecar/ndjson-load.test.ts.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HttpClient } from '../../shared/client/index.ts';
import { resolveSidecarOptions } from '../../shared/options/sidecar.ts';
import { baseUrl, post } from '../helpers/http.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort, sleep } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const rig = new SidecarRig(test, { fresh: true });

/** A request exactly as written: node:http sends the path as is (fetch would normalise it). */
function raw(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    // A stream answered where an error was due would otherwise never end.
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no complete answer`)));
    req.end(body);
  });
}

test('HEAD on an event stream answers its headers and subscribes nothing', async () => {
  await rig.restart({ maxSsePerIp: 3, apiKeys: ['k'] });
  for (let i = 0; i < 10; i++) {
    const r = await raw('HEAD', '/groups/h/events', undefined, { Authorization: 'Bearer k' });
    assert.is(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  }
  assert.is((await raw('HEAD', '/groups/h/events')).status, 401, 'HEAD is checked like GET');
  await sleep(100);
  const health = await (await fetch(`${baseUrl(rig.sc)}/healthz`)).json();
  assert.is(health.connections.sse, 0, 'no phantom subscriber');
  assert.is(rig.count('h', 'sse'), 0);
  // The address's stream limit (3) is untouched: a real subscriber still gets in.
  const sub = await rig.sse('h', '', { Authorization: 'Bearer k' });
  assert.is(sub.response.status, 200);
  await post(rig.sc, 'h', 'hello', { Authorization: 'Bearer k' });
  assert.equal(
    (await sub.waitForMessages(1)).map((e) => e.data),
    ['hello'],
  );
});

test("'.' and '..' are refused as INVALID_GROUP_ID on every transport, however they are spelled", async () => {
  for (const [method, path] of [
    ['GET', '/groups/..'],
    ['GET', '/groups/.'],
    ['GET', '/groups/%2e%2E'],
    ['GET', '/groups/%2E/messages'],
    ['POST', '/groups/%2E/messages'],
    ['POST', '/groups/../messages'],
    ['GET', '/groups/./events'],
    ['GET', '/groups/a/../lobby'],
  ]) {
    const r = await raw(method, path, method === 'POST' ? 'x' : undefined);
    assert.is(r.status, 400, `${method} ${path}: ${r.text}`);
    assert.is(JSON.parse(r.text).error.code, 'INVALID_GROUP_ID', `${method} ${path}`);
  }
  // A dot inside an id is fine.
  assert.is((await post(rig.sc, 'a.b', 'x')).status, 202);
  for (const id of ['.', '..']) {
    const p = rig.track(await TcpPeer.open(rig.sc.addresses.tcp as string, id));
    await p.waitForText('ERROR INVALID_GROUP_ID');
    await p.waitClosed();
    assert.throws(
      () => resolveSidecarOptions({ GROUPCAST_UDP_GROUP: id }, []),
      /UDP_GROUP|udpGroup/,
    );
    const client = new HttpClient({ url: baseUrl(rig.sc) });
    await client.publish(id, 'x').then(
      () => assert.unreachable('published'),
      (err) => assert.is(err.code, 'INVALID_GROUP_ID'),
    );
  }
  assert.not.ok(
    (await (await fetch(`${baseUrl(rig.sc)}/groups`)).json()).groups.some(
      (g: { group: string }) => g.group === '.' || g.group === '..',
    ),
  );
});

test('?from= accepts live and earliest only; anything else is 400 BAD_REQUEST', async () => {
  for (const bad of ['garbage', 'EARLIEST', 'Live', '']) {
    const r = await raw('GET', `/groups/f/events?from=${bad}`);
    assert.is(r.status, 400, bad);
    assert.is(JSON.parse(r.text).error.code, 'BAD_REQUEST', bad);
  }
  for (const good of ['live', 'earliest']) {
    const c = await rig.sse('f', `?from=${good}`);
    assert.is(c.response.status, 200, good);
  }
});

test('a body over the limit by its Content-Length gets 413 and the connection ends: the rest is never read', async () => {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const declared = 100_000_000;
  const socket = connect({ host, port });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(
    `POST /groups/big/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  let answer = '';
  socket.on('data', (d) => {
    answer += d;
  });
  const ended = new Promise<void>((r) => {
    socket.on('error', () => r());
    socket.on('close', () => r());
  });
  // Keep sending, as a client that does not read answers would, until the server stops us.
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x31);
  let stopped = false;
  void ended.then(() => {
    stopped = true;
  });
  const deadline = Date.now() + 10_000;
  while (!stopped && sent < declared && Date.now() < deadline) {
    sent += chunk.byteLength;
    if (!socket.write(chunk))
      await Promise.race([new Promise((r) => socket.once('drain', r)), ended]);
  }
  await ended;
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /BODY_TOO_LARGE/);
  assert.ok(sent < 32 * 1024 * 1024, `the client got to send ${sent} bytes`);
});

test('an NDJSON batch over maxBatchMessages is 413 TOO_MANY_MESSAGES and publishes nothing', async () => {
  await rig.restart({ maxBatchMessages: 100 });
  const r = await post(rig.sc, 'cap', '1\n'.repeat(101), {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(r.status, 413);
  assert.is(r.json.error.code, 'TOO_MANY_MESSAGES');
  assert.is(rig.sc.hub.findGroup('cap')?.messagesIn ?? 0, 0);
  const ok = await post(rig.sc, 'cap', '1\n'.repeat(100), {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(ok.status, 202);
  assert.is(ok.json.ids.length, 100);
});

test('a large NDJSON batch is answered with a bounded summary, published in order', async () => {
  const peer = await rig.tcp('many');
  const n = 5000;
  const body = Array.from({ length: n }, (_, i) => `${i}`).join('\n');
  const r = await post(rig.sc, 'many', body, { 'Content-Type': 'application/x-ndjson' });
  assert.is(r.status, 202, JSON.stringify(r.json).slice(0, 200));
  assert.is(r.json.ids, undefined, 'no list of 5,000 ids');
  assert.is(r.json.count, n);
  assert.is(r.json.recipients, 1);
  assert.match(r.json.firstId, /^\d+-1$/);
  assert.match(r.json.lastId, new RegExp(`^\\d+-${n}$`));
  const expected = `${Array.from({ length: n }, (_, i) => `${i}`).join('\n')}\n`;
  await peer.waitForBytes(expected.length);
  assert.is(peer.text, expected);
});

test.run();
