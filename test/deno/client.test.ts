/**
 * The client library on Deno: the same shared/client code as on Node, the Deno TCP transport,
 * against a real sidecar process.
 */

import { denoTcp } from '../../api/client/deno-transport.ts';
import { HttpClient } from '../../shared/client/http.ts';
import type { SubscriptionEvent, SubscriptionStatus } from '../../shared/client/subscription.ts';
import { TcpClient, type TcpClientStatus } from '../../shared/client/tcp.ts';
import { RemoteError } from '../../shared/errors.ts';
import { hostPort, startSidecar, waitFor } from './sidecar-process.ts';

function assert(cond: unknown, message = 'assertion failed'): asserts cond {
  if (!cond) throw new Error(message);
}

function assertEquals(actual: unknown, expected: unknown): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`expected ${e}, got ${a}`);
}

const texts = (events: SubscriptionEvent[]) =>
  events.flatMap((e) => (e.type === 'message' ? [e.text] : []));

Deno.test('HTTP client on Deno: publish, subscribe with text and binary, groups', async () => {
  const sc = await startSidecar({ GROUPCAST_TCP_FRAMING: 'raw' });
  const client = new HttpClient({ url: sc.url });
  const sub = client.subscribe('deno');
  const events: SubscriptionEvent[] = [];
  const done = (async () => {
    for await (const e of sub) events.push(e);
  })();
  try {
    const listed = await waitFor(async () =>
      (await client.groups()).find((g) => g.group === 'deno'),
    );
    assertEquals(listed?.counts, { tcp: 0, udp: 0, sse: 1, resp: 0 });
    const a = await client.publish('deno', 'from deno');
    await client.publish('deno', Uint8Array.of(0xfe, 0x0d, 0x00));
    await waitFor(() => events.length >= 2);
    const [e1, e2] = events;
    assert(e1.type === 'message' && e1.text === 'from deno' && e1.id === a.ids[0], 'text message');
    assert(e2.type === 'message' && e2.binary, 'binary message');
    assertEquals([...e2.data], [0xfe, 0x0d, 0x00]);
    const err = await client.group('missing').catch((e) => e);
    assert(err instanceof RemoteError && err.code === 'GROUP_NOT_FOUND', String(err));
  } finally {
    sub.close();
    await done;
    await sc.stop();
  }
});

Deno.test('HTTP client on Deno: reconnects after the hub restarts and surfaces the gap', async () => {
  let sc = await startSidecar();
  const port = hostPort(sc.http).port;
  const client = new HttpClient({ url: sc.url });
  const statuses: SubscriptionStatus[] = [];
  const sub = client.subscribe('restart', {
    backoff: { initialMs: 50, maxMs: 200 },
    onStatus: (s) => statuses.push(s),
  });
  const events: SubscriptionEvent[] = [];
  const done = (async () => {
    for await (const e of sub) events.push(e);
  })();
  try {
    await waitFor(() => statuses.some((s) => s.type === 'live'), 5000, 'live');
    const first = await client.publish('restart', 'one');
    await waitFor(() => events.length >= 1);
    await sc.stop();
    sc = await startSidecar({ GROUPCAST_HTTP_PORT: String(port) });
    await waitFor(() => statuses.filter((s) => s.type === 'live').length >= 2, 10_000, 'back');
    await client.publish('restart', 'two');
    await waitFor(() => events.length >= 3, 5000, 'gap and message');
    const gap = events[1];
    assert(gap.type === 'gap', `expected a gap, got ${gap.type}`);
    assertEquals([gap.requested, gap.reason], [first.ids[0], 'reset']);
    assertEquals(texts(events), ['one', 'two']);
    assert(
      statuses.some((s) => s.type === 'reconnecting'),
      'reported reconnecting',
    );
  } finally {
    sub.close();
    await done;
    await sc.stop();
  }
});

Deno.test('TCP client on Deno: joins, exchanges, rejoins after the hub restarts', async () => {
  let sc = await startSidecar();
  const { port } = hostPort(sc.tcp);
  const httpPort = hostPort(sc.http).port;
  const received: string[] = [];
  const statuses: TcpClientStatus[] = [];
  const make = (onMessage?: (d: Uint8Array) => void, onStatus?: (s: TcpClientStatus) => void) =>
    new TcpClient({
      host: '127.0.0.1',
      port,
      group: 'lobby',
      connect: denoTcp,
      backoff: { initialMs: 50, maxMs: 200 },
      onMessage,
      onStatus,
    });
  const a = make(
    (d) => received.push(new TextDecoder().decode(d)),
    (s) => statuses.push(s),
  );
  const b = make();
  try {
    const lobby = async () =>
      (await new HttpClient({ url: sc.url }).groups()).find((g) => g.group === 'lobby')?.counts
        .tcp ?? 0;
    await waitFor(async () => (await lobby()) === 2, 5000, 'two members');
    b.send('hello from deno');
    await waitFor(() => received.length >= 1);
    assertEquals(received, ['hello from deno']);
    await new HttpClient({ url: sc.url }).publish('lobby', 'from http');
    await waitFor(() => received.length >= 2);

    await sc.stop();
    await waitFor(() => !a.connected && !b.connected, 5000, 'noticed the stop');
    b.send('sent while down');
    sc = await startSidecar({
      GROUPCAST_TCP_PORT: String(port),
      GROUPCAST_HTTP_PORT: String(httpPort),
      GROUPCAST_RESP_PORT: 'off',
    });
    // The buffered message reaches the new hub (its history shows it) once b has rejoined.
    const history = async () => {
      const res = await fetch(`${sc.url}/groups/lobby/messages`);
      const body = await res.json();
      return res.ok ? (body.messages as { data: string }[]).map((m) => m.data) : [];
    };
    assertEquals(await waitFor(async () => (await history()).length > 0 && history(), 10_000), [
      'sent while down',
    ]);
    await waitFor(() => a.connected && b.connected, 10_000, 'both rejoined');
    await waitFor(async () => (await lobby()) === 2, 5000, 'two members');
    b.send('after the restart');
    await waitFor(() => received.includes('after the restart'), 5000, 'delivery after rejoin');
    assert(statuses.filter((s) => s.type === 'connected').length >= 2, 'connected again');
  } finally {
    await a.close();
    await b.close();
    await sc.stop();
  }
});
