// The edge worker's POSTs to its sidecar on its own connections (PublishConnections): a real
// sidecar on real sockets, reached with the Node TCP transport (the edge uses Deno's; the rest is
// the same code).
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeTcp } from '../../api/client/node-transport.ts';
import { PublishConnections } from '../../api/edge/publish-connections.ts';
import type { TcpConnect } from '../../shared/client/tcp-transport.ts';
import { GroupcastError } from '../../shared/errors.ts';
import type { PublishResult } from '../../shared/hub.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { sleep, startTestSidecar, waitFor } from '../helpers/sidecar.ts';

const text = new TextEncoder();
const bytes = (s: string) => text.encode(s);
const OCTETS = 'application/octet-stream';

/** Node's TCP transport, counting the connections opened and closed. */
function counted(): { connect: TcpConnect; opened: number; closed: number } {
  const c = {
    opened: 0,
    closed: 0,
    connect: (async (o) => {
      const conn = await nodeTcp(o);
      c.opened++;
      return {
        read: () => conn.read(),
        write: (b: Uint8Array) => conn.write(b),
        close: () => {
          c.closed++;
          conn.close();
        },
      };
    }) as TcpConnect,
  };
  return c;
}

async function errorOf(p: Promise<unknown>): Promise<GroupcastError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, GroupcastError);
    return err as GroupcastError;
  }
  throw new Error('expected a rejection');
}

let sidecar: Sidecar;
const url = () => `http://${sidecar.addresses.http}`;

test.before(async () => {
  sidecar = await startTestSidecar({ maxMessageBytes: 1024 });
});

test.after(async () => {
  await sidecar?.close();
});

test('concurrent POSTs each get a connection and their own id; the connections are kept for the next', async () => {
  const c = counted();
  const posts = new PublishConnections({ url: url(), timeoutMs: 5000, connect: c.connect });
  const texts = Array.from({ length: 4 }, (_, i) => `m${i}`);
  const first = await Promise.all(texts.map((t) => posts.send('conns', bytes(t), OCTETS)));
  assert.is(c.opened, 4);
  const second: PublishResult[] = [];
  for (const t of ['n0', 'n1', 'n2']) second.push(await posts.send('conns', bytes(t), OCTETS));
  assert.is(c.opened, 4, 'sequential POSTs reuse a kept connection');
  assert.is(posts.opened, 4);
  const page = await sidecar.hub.history('conns', { kind: 'earliest' }, 100);
  const held = new Map((page?.messages ?? []).map((m) => [new TextDecoder().decode(m.data), m.id]));
  // Each answer names the message its own request carried.
  [...texts, 'n0', 'n1', 'n2'].forEach((t, i) => {
    assert.is([...first, ...second][i].ids[0], held.get(t), t);
  });
  posts.close();
});

test("a POST refused by its size keeps the sidecar's code; POSTs sent with it are published and answered", async () => {
  const c = counted();
  const posts = new PublishConnections({ url: url(), timeoutMs: 5000, connect: c.connect });
  const [a, refused, b] = await Promise.allSettled([
    posts.send('refusal', bytes('before'), OCTETS),
    posts.send('refusal', new Uint8Array(2000).fill(97), OCTETS),
    posts.send('refusal', bytes('after'), OCTETS),
  ]);
  assert.is(a.status, 'fulfilled');
  assert.is(b.status, 'fulfilled');
  assert.is(refused.status, 'rejected');
  const err = (refused as PromiseRejectedResult).reason;
  assert.is(err.code, 'MESSAGE_TOO_LARGE');
  assert.is(err.status, 413);
  // The sidecar ended the refused POST's connection; the next POST still goes.
  assert.is((await posts.send('refusal', bytes('later'), OCTETS)).ids.length, 1);
  const page = await sidecar.hub.history('refusal', { kind: 'earliest' }, 10);
  assert.equal(
    (page?.messages ?? []).map((m) => new TextDecoder().decode(m.data)),
    ['before', 'after', 'later'],
  );
  posts.close();
});

test('an idle connection is closed by the edge well before the sidecar would, and the next POST opens another', async () => {
  const c = counted();
  const posts = new PublishConnections({ url: url(), timeoutMs: 5000, connect: c.connect });
  await posts.send('idle', bytes('one'), OCTETS);
  assert.is(c.closed, 0);
  const t0 = Date.now();
  await waitFor(() => c.closed === 1, 2500, 'the idle connection to close');
  // Node's keep-alive timeout is 5 s: the edge closes first, with room to spare.
  assert.ok(Date.now() - t0 < 2000);
  assert.is(posts.opened, 0);
  const r = await posts.send('idle', bytes('two'), OCTETS);
  assert.is(r.ids.length, 1);
  assert.is(c.opened, 2);
  posts.close();
});

test('with the sidecar out of reach a POST fails with UNREACHABLE, naming the sidecar', async () => {
  const gone = await startTestSidecar();
  const goneUrl = `http://${gone.addresses.http}`;
  await gone.close();
  const posts = new PublishConnections({ url: goneUrl, timeoutMs: 5000, connect: nodeTcp });
  const err = await errorOf(posts.send('g', bytes('x'), OCTETS));
  assert.is(err.code, 'UNREACHABLE');
  assert.match(err.message, goneUrl);
});

/** A peer that takes the connection and reads, then does `then` with the socket. */
async function peer(then: (s: Socket) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => then(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
}

test('a sidecar that closes the connection before answering fails the POSTs on it with UNREACHABLE', async () => {
  const { server, url: peerUrl } = await peer((s) => s.destroy());
  const posts = new PublishConnections({ url: peerUrl, timeoutMs: 5000, connect: nodeTcp });
  const errs = await Promise.all([
    errorOf(posts.send('g', bytes('x'), OCTETS)),
    errorOf(posts.send('g', bytes('y'), OCTETS)),
  ]);
  for (const e of errs) assert.is(e.code, 'UNREACHABLE');
  server.close();
});

test('a sidecar that never answers fails the POST at the time limit', async () => {
  const held: Socket[] = [];
  const { server, url: peerUrl } = await peer((s) => held.push(s));
  const posts = new PublishConnections({ url: peerUrl, timeoutMs: 200, connect: nodeTcp });
  const t0 = Date.now();
  const err = await errorOf(posts.send('g', bytes('x'), OCTETS));
  assert.is(err.code, 'UNREACHABLE');
  assert.match(err.message, 'did not answer within 200 ms');
  assert.ok(Date.now() - t0 < 2000);
  for (const s of held) s.destroy();
  server.close();
  await sleep(10);
});

test('only plain http without credentials in the URL and with a header-safe token goes on these connections', () => {
  assert.ok(PublishConnections.handles('http://127.0.0.1:7480'));
  assert.ok(PublishConnections.handles('http://127.0.0.1:7480', 'abc.def-ghi'));
  assert.not.ok(PublishConnections.handles('https://sidecar.example'));
  assert.not.ok(PublishConnections.handles('http://user:secret@127.0.0.1:7480'));
  assert.not.ok(PublishConnections.handles('http://127.0.0.1:7480', 'bad\r\nX-Injected: 1'));
});

test.run();
