/**
 * The Node server's own path for `POST /groups/:group/messages` (api/node-publish.ts): it must
 * answer exactly as the app does, read bodies that come in pieces, give back what a client that
 * leaves mid-body reserved, and share the app's limits. `/groups/s%61me/messages` is the same
 * group written with an escape, which the fast path leaves to the app: the two are compared.
 */
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort, sleep, waitFor } from '../helpers/sidecar.ts';

const rig = new SidecarRig(test, { fresh: true });

interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
  closed: boolean;
}

/** Sends `head` then each body part (`gapMs` apart) on a raw socket; reads one answer. */
function rawPost(
  path: string,
  parts: string[],
  type = 'text/plain',
  gapMs = 0,
): Promise<RawAnswer> {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const length = parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    let buf = Buffer.alloc(0);
    let answer: RawAnswer | null = null;
    let ended = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; have ${JSON.stringify(buf.toString())}`));
    }, 5000);
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 || answer) return;
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const at = l.indexOf(':');
        headers.set(l.slice(0, at).toLowerCase(), l.slice(at + 1).trim());
      }
      const size = Number(headers.get('content-length'));
      if (buf.byteLength < end + 4 + size) return;
      answer = {
        status: Number(lines[0].split(' ')[1]),
        headers,
        body: buf.toString('utf8', end + 4, end + 4 + size),
        closed: false,
      };
      // A connection the server closes after its answer: seen within a moment, else kept.
      setTimeout(() => socket.destroy(), 100);
    });
    socket.on('end', () => {
      ended = true;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (answer) resolve({ ...answer, closed: ended });
    });
    socket.on('connect', async () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`,
      );
      for (const p of parts) {
        if (gapMs > 0) await sleep(gapMs);
        socket.write(p);
      }
    });
  });
}

const FAST = '/groups/same/messages';
const APP = '/groups/s%61me/messages';

/** What must not differ between the two paths (ids and dates do). */
function shape(a: RawAnswer) {
  const names = [...a.headers.keys()].filter((k) => k !== 'date').sort();
  const json = JSON.parse(a.body);
  if (json.ids) json.ids = json.ids.map(() => 'id');
  return {
    status: a.status,
    names,
    type: a.headers.get('content-type'),
    connection: a.headers.get('connection'),
    json,
    closed: a.closed,
  };
}

test('the fast path and the app answer alike: published, refused, and refused by size (connection closed)', async () => {
  await rig.restart({ maxBatchMessages: 2 });
  const t = await rig.tcp('same');
  const cases: [string[], string][] = [
    [['hello'], 'text/plain'],
    [[''], 'text/plain'],
    [['two\nlines'], 'text/plain'],
    [['"a"\n"b"\n'], 'application/x-ndjson'],
    [['"a"\n"b"\n"c"\n'], 'application/x-ndjson'],
    [['{"a":\n'], 'application/x-ndjson'],
  ];
  for (const [parts, type] of cases) {
    const fast = shape(await rawPost(FAST, parts, type));
    const app = shape(await rawPost(APP, parts, type));
    assert.equal(fast, app, `${type} ${JSON.stringify(parts)}`);
  }
  const tooMany = shape(await rawPost(FAST, ['"a"\n"b"\n"c"\n'], 'application/x-ndjson'));
  assert.is(tooMany.status, 413);
  assert.is(tooMany.connection, 'close');
  assert.ok(tooMany.closed, 'the connection is closed after a refused body');
  await t.waitForText('hello\nhello\n"a"\n"b"\n"a"\n"b"\n');
});

test('a body that arrives in pieces is published whole', async () => {
  const t = await rig.tcp('same');
  const parts = ['a'.repeat(1500), 'b'.repeat(1500), 'c'.repeat(1500)];
  const r = await rawPost(FAST, parts, 'text/plain', 30);
  assert.is(r.status, 202, r.body);
  const text = await t.waitForText('c\n');
  assert.is(text, `${parts.join('')}\n`);
});

test('a client gone mid-body publishes nothing and gives back the memory its body reserved', async () => {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const socket = connect({ host, port });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `POST ${FAST} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(100)}`,
  );
  const used = () => rig.sc.hub.memoryReport().bodies;
  await waitFor(() => used() === 5000, 2000, 'the body reserved');
  socket.destroy();
  await waitFor(() => used() === 0, 2000, `the reservation released (held ${used()})`);
  assert.is(rig.sc.hub.findGroup('same')?.seq ?? 0, 0);
  const r = await rawPost(FAST, ['after']);
  assert.is(r.status, 202);
});

test('the fast path and the app share one rate bucket per address', async () => {
  await rig.restart({ rateLimit: 1, rateBurst: 1 });
  assert.is((await rawPost(FAST, ['one'])).status, 202);
  assert.is((await rawPost(APP, ['two'])).status, 202);
  const third = await rawPost(FAST, ['three']);
  assert.is(third.status, 429);
  assert.is(JSON.parse(third.body).error.code, 'RATE_LIMITED');
});

test.run();
