// The edge worker as users run it: a real sidecar (Node) and a real edge worker (Deno), both
// processes, driven over HTTP, SSE and raw TCP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request, startEdgeProcess, startSidecarProcess } from '../helpers/edge.ts';
import type { Started } from '../helpers/process.ts';
import { hostPort, sleep, waitFor } from '../helpers/sidecar.ts';
import { SseClient, type SseEvent } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';

let sidecar: Started;
let edge: Started;
const open: { close(): void }[] = [];

const sc = () => sidecar.addresses.http;
const ed = () => edge.addresses.http;

async function sse(base: string, group: string, headers: Record<string, string> = {}) {
  const c = await SseClient.open(`http://${base}/groups/${group}/events`, headers);
  open.push(c);
  assert.is(c.response.status, 200);
  return c;
}

async function sidecarSseCount(group: string): Promise<number> {
  const r = await request(sc(), 'GET', `/groups/${group}`);
  return r.status === 200 ? r.json.counts.sse : 0;
}

async function publish(base: string, group: string, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const t of texts) {
    const r = await request(base, 'POST', `/groups/${group}/messages`, t);
    assert.is(r.status, 202, JSON.stringify(r.json));
    ids.push(...r.json.ids);
  }
  return ids;
}

const dataOf = (events: SseEvent[]) =>
  events.filter((e) => e.event === 'message').map((e) => e.data);

test.before(async () => {
  sidecar = await startSidecarProcess({ GROUPCAST_MAX_MESSAGE_BYTES: '1KiB' });
  edge = await startEdgeProcess(sc());
});

async function edgeSubscribers(): Promise<number> {
  const text = await (await fetch(`http://${ed()}/metrics`)).text();
  return Number(/^groupcast_edge_subscribers (\d+)$/m.exec(text)?.[1]);
}

test.after.each(async () => {
  for (const c of open.splice(0)) c.close();
  await waitFor(async () => (await edgeSubscribers()) === 0, 5000, 'edge subscribers to leave');
});

test.after(async () => {
  for (const c of open.splice(0)) c.close();
  await edge?.stop();
  await sidecar?.stop();
});

test('a POST to the edge reaches a TCP member of the sidecar', async () => {
  const member = await TcpPeer.open(sidecar.addresses.tcp, 'edge-in');
  open.push(member);
  await waitFor(
    async () => (await request(sc(), 'GET', '/groups/edge-in')).json?.counts?.tcp === 1,
  );
  const r = await request(ed(), 'POST', '/groups/edge-in/messages', 'from the edge');
  assert.is(r.status, 202);
  assert.is(r.json.recipients, 1);
  assert.match(r.json.ids[0], /^\d+-1$/);
  await member.waitForText('from the edge\n');
  assert.is(member.text, 'from the edge\n');
});

test("a TCP member's message reaches an SSE subscriber of the edge with the sidecar's id", async () => {
  const sub = await sse(ed(), 'edge-out');
  await waitFor(async () => (await sidecarSseCount('edge-out')) === 1, 5000, 'upstream');
  const member = await TcpPeer.open(sidecar.addresses.tcp, 'edge-out');
  open.push(member);
  await waitFor(async () => (await request(sc(), 'GET', '/groups/edge-out')).json.counts.tcp === 1);
  member.write('from tcp\n');
  const [m] = await sub.waitForMessages(1);
  const detail = await request(sc(), 'GET', '/groups/edge-out');
  assert.equal(m, { id: detail.json.lastId, event: 'message', data: 'from tcp' });
});

test('50 edge subscribers of one group hold exactly one upstream subscription on the sidecar', async () => {
  const subs = await Promise.all(Array.from({ length: 50 }, () => sse(ed(), 'crowd')));
  await waitFor(async () => (await sidecarSseCount('crowd')) === 1, 5000, 'upstream');
  const metrics = await (await fetch(`http://${ed()}/metrics`)).text();
  assert.match(metrics, /^groupcast_edge_subscribers 50$/m);
  assert.match(metrics, /^groupcast_edge_upstreams\{state="open"\} 1$/m);
  const r = await request(sc(), 'POST', '/groups/crowd/messages', 'to all fifty');
  assert.is(r.json.recipients, 1, 'the sidecar hands it to one member: the edge');
  for (const s of subs) await s.waitForMessages(1);
  for (const s of subs)
    assert.equal(s.messages(), [{ id: r.json.ids[0], event: 'message', data: 'to all fifty' }]);
  assert.is(await sidecarSseCount('crowd'), 1);
  for (const s of subs) s.close();
  await waitFor(async () => (await sidecarSseCount('crowd')) === 0, 5000, 'the upstream to close');
  const after = await (await fetch(`http://${ed()}/metrics`)).text();
  assert.match(after, /^groupcast_edge_subscribers 0$/m);
  assert.match(after, /^groupcast_edge_upstreams\{state="open"\} 0$/m);
});

test('a late subscriber with Last-Event-ID replays from it and joins the shared upstream', async () => {
  const first = await sse(ed(), 'late');
  await waitFor(async () => (await sidecarSseCount('late')) === 1);
  const ids = await publish(ed(), 'late', ['a', 'b', 'c', 'd']);
  await first.waitForMessages(4);
  const late = await sse(ed(), 'late', { 'Last-Event-ID': ids[1] });
  assert.equal(dataOf(await late.waitForMessages(2)), ['c', 'd']);
  await publish(sc(), 'late', ['e']);
  await late.waitForMessages(3);
  await first.waitForMessages(5);
  await sleep(50);
  assert.equal(dataOf(late.events), ['c', 'd', 'e']);
  assert.equal(dataOf(first.events), ['a', 'b', 'c', 'd', 'e']);
  assert.is(late.events.filter((e) => e.event === 'gap').length, 0);
  assert.is(await sidecarSseCount('late'), 1);
});

/** The publish time of each message: the data of the `time` event before it. */
function timesOf(events: SseEvent[]): (number | undefined)[] {
  let time: number | undefined;
  const out: (number | undefined)[] = [];
  for (const e of events) {
    if (e.event === 'time') time = Number(e.data);
    else if (e.event === 'message') out.push(time);
  }
  return out;
}

test('the edge passes on the publish times of the sidecar, live and replayed', async () => {
  const direct = await sse(sc(), 'clock');
  const viaEdge = await sse(ed(), 'clock');
  await waitFor(async () => (await sidecarSseCount('clock')) === 2);
  await publish(sc(), 'clock', ['a']);
  await sleep(40);
  await publish(sc(), 'clock', ['b']);
  await direct.waitForMessages(2);
  await viaEdge.waitForMessages(2);
  const times = timesOf(direct.events);
  assert.ok((times[1] ?? 0) - (times[0] ?? 0) >= 30, `two times ${times}`);
  assert.equal(timesOf(viaEdge.events), times);
  await sleep(40);
  // A new edge subscriber replays through the sidecar's history page.
  const replay = await sse(ed(), 'clock', { 'Last-Event-ID': '0-0' });
  await replay.waitForMessages(2);
  assert.equal(timesOf(replay.events).slice(-2), times);
});

test('inspect endpoints answer through the edge as the sidecar does', async () => {
  await publish(sc(), 'inspect', ['x']);
  const a = await request(sc(), 'GET', '/groups');
  const b = await request(ed(), 'GET', '/groups');
  assert.is(b.status, 200);
  assert.equal(b.json, a.json);
  const g = await request(ed(), 'GET', '/groups/inspect');
  assert.is(g.json.lastId, (await request(sc(), 'GET', '/groups/inspect')).json.lastId);
  const h = await request(ed(), 'GET', '/groups/inspect/messages');
  const direct = await request(sc(), 'GET', '/groups/inspect/messages');
  const time = direct.json.messages[0].time;
  assert.ok(Number.isSafeInteger(time) && Math.abs(Date.now() - time) < 60_000, `time ${time}`);
  assert.equal(h.json.messages, [{ id: g.json.lastId, time, encoding: 'utf8', data: 'x' }]);
});

test('bad input gets the same status and error code from the edge as from the sidecar', async () => {
  const big = 'x'.repeat(2000);
  const cases: [string, string, string?, Record<string, string>?][] = [
    ['POST', '/groups/bad%20id/messages', 'x'],
    ['POST', '/groups/g/messages', ''],
    ['POST', '/groups/g/messages', 'two\nlines'],
    ['POST', '/groups/g/messages', big],
    ['POST', '/groups/g/messages', '{"a":1}\nnope\n', { 'Content-Type': 'application/x-ndjson' }],
    ['GET', '/groups/g/messages?limit=0'],
    ['GET', '/groups/nope-never'],
    ['GET', '/groups/nope-never/messages'],
    ['GET', '/groups/bad%0Aid/events'],
    ['GET', '/nowhere'],
    ['DELETE', '/groups'],
    ['PUT', '/groups/g/events'],
  ];
  const seen = new Set<string>();
  for (const [method, path, body, headers] of cases) {
    const want = await request(sc(), method, path, body, headers);
    const got = await request(ed(), method, path, body, headers);
    const what = `${method} ${path}`;
    assert.ok(want.status >= 400, `${what}: the sidecar refuses it (${want.status})`);
    assert.is(got.status, want.status, what);
    assert.is(got.json?.error?.code, want.json?.error?.code, what);
    seen.add(want.json.error.code);
  }
  for (const code of [
    'INVALID_GROUP_ID',
    'EMPTY_MESSAGE',
    'UNFRAMEABLE',
    'MESSAGE_TOO_LARGE',
    'INVALID_NDJSON',
    'BAD_REQUEST',
    'GROUP_NOT_FOUND',
    'NOT_FOUND',
    'METHOD_NOT_ALLOWED',
  ]) {
    assert.ok(seen.has(code), code);
  }
  const metrics = await (await fetch(`http://${ed()}/metrics`)).text();
  assert.match(metrics, /^groupcast_rejected_total\{reason="UNFRAMEABLE"\} 1$/m);
  assert.match(metrics, /^groupcast_rejected_total\{reason="INVALID_GROUP_ID"\} 2$/m);
});

async function edgeMetric(name: string): Promise<number> {
  const text = await (await fetch(`http://${ed()}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** The message events of a raw stream, as the bytes that carried them. */
function messageBlocks(c: SseClient): string[] {
  const text = Buffer.concat(c.raw).toString('utf8');
  return text.split('\n\n').filter((b) => /^id: /.test(b) && /\ndata:/.test(b));
}

test("edge subscribers get the sidecar's message events byte for byte", async () => {
  const direct = await sse(sc(), 'bytes');
  const viaEdge = await sse(ed(), 'bytes');
  await waitFor(async () => (await sidecarSseCount('bytes')) === 2);
  const bodies: (string | Uint8Array<ArrayBuffer>)[] = [
    'plain',
    'héllo ✓ 🎮',
    Uint8Array.of(0, 255, 13, 7),
  ];
  for (const body of bodies) {
    const res = await fetch(`http://${ed()}/groups/bytes/messages`, { method: 'POST', body });
    assert.is(res.status, 202);
    await res.arrayBuffer();
  }
  await direct.waitForMessages(3);
  await viaEdge.waitForMessages(3);
  const want = messageBlocks(direct);
  assert.is(want.length, 3);
  assert.equal(messageBlocks(viaEdge), want);
  assert.match(want[2], /\nevent: binary\n/);
});

test('concurrent POSTs to one group go to the sidecar together, each answered with its own ids', async () => {
  const s = await sse(ed(), 'together');
  const before = await edgeMetric('groupcast_edge_publish_requests_total');
  const texts = Array.from({ length: 64 }, (_, i) => `m${i}`);
  const answers = await Promise.all(
    texts.map((t) => request(ed(), 'POST', '/groups/together/messages', t)),
  );
  for (const r of answers) {
    assert.is(r.status, 202, JSON.stringify(r.json));
    assert.is(r.json.ids.length, 1);
  }
  const ids: string[] = answers.map((r) => r.json.ids[0]);
  assert.is(new Set(ids).size, 64);
  const got = await s.waitForMessages(64);
  await sleep(100);
  assert.is(s.messages().length, 64, 'each message once');
  const byId = new Map(got.map((e) => [e.id, e.data]));
  for (const [i, t] of texts.entries()) {
    assert.is(byId.get(ids[i]), t, `the answer to POST ${t}`);
  }
  const sorted = [...got.map((e) => e.id as string)].sort(
    (a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]),
  );
  assert.equal(
    got.map((e) => e.id),
    sorted,
    'in id order',
  );
  const requests = (await edgeMetric('groupcast_edge_publish_requests_total')) - before;
  assert.ok(requests < 64, `${requests} requests to the sidecar for 64 POSTs`);
  assert.is((await edgeMetric('groupcast_edge_published_total')) >= 64, true);
});

test('a POST the sidecar refuses among concurrent ones gets its own error; the others are published', async () => {
  const s = await sse(ed(), 'oneBad');
  const bodies = Array.from({ length: 32 }, (_, i) => (i % 8 === 5 ? `bad\n${i}` : `ok${i}`));
  const answers = await Promise.all(
    bodies.map((b) => request(ed(), 'POST', '/groups/oneBad/messages', b)),
  );
  bodies.forEach((b, i) => {
    if (b.startsWith('bad')) {
      assert.is(answers[i].status, 400, b);
      assert.is(answers[i].json.error.code, 'UNFRAMEABLE');
    } else assert.is(answers[i].status, 202, b);
  });
  const good = bodies.filter((b) => b.startsWith('ok'));
  await s.waitForMessages(good.length);
  await sleep(100);
  assert.equal(s.data().sort(), [...good].sort());
});

test('an NDJSON batch goes through the edge as it came and comes back as one message a line', async () => {
  const s = await sse(ed(), 'ndjson');
  const r = await request(ed(), 'POST', '/groups/ndjson/messages', '{"a":1}\n\n[2]\r\n"three"\n', {
    'Content-Type': 'application/x-ndjson',
  });
  assert.is(r.status, 202, JSON.stringify(r.json));
  assert.is(r.json.ids.length, 3);
  await s.waitForMessages(3);
  assert.equal(s.data(), ['{"a":1}', '[2]', '"three"']);
});

test('edge subscribers resume across a sidecar restart: nothing lost after it, nothing repeated, an honest reset gap', async () => {
  const group = 'restart';
  const subs = await Promise.all([1, 2, 3].map(() => sse(ed(), group)));
  const leaver = await sse(ed(), group);
  await waitFor(async () => (await sidecarSseCount(group)) === 1);
  const before = await publish(ed(), group, ['pre-1', 'pre-2', 'pre-3']);
  for (const s of [...subs, leaver]) await s.waitForMessages(3);
  const lastSeen = leaver.messages().at(-1)?.id as string;
  assert.is(lastSeen, before[2]);
  leaver.close();

  const { tcp, http } = sidecar.addresses;
  assert.is(await sidecar.stop('SIGKILL'), null, 'killed');
  const down = await request(ed(), 'GET', '/healthz');
  assert.is(down.status, 503);
  assert.is(down.json.upstream.reachable, false);
  const refused = await request(ed(), 'POST', `/groups/${group}/messages`, 'lost');
  assert.is(refused.status, 502);
  assert.is(refused.json.error.code, 'UPSTREAM_UNAVAILABLE');

  sidecar = await startSidecarProcess({
    GROUPCAST_MAX_MESSAGE_BYTES: '1KiB',
    GROUPCAST_TCP_PORT: String(hostPort(tcp).port),
    GROUPCAST_HTTP_PORT: String(hostPort(http).port),
    GROUPCAST_RESP_PORT: 'off',
  });
  assert.is(sc(), http, 'same address');
  const after = await publish(sc(), group, ['post-1', 'post-2']);
  after.push(...(await publish(ed(), group, ['post-3', 'post-4'])));
  assert.ok(
    after.every((id) => id.split('-')[0] !== before[0].split('-')[0]),
    'a new sequence',
  );
  for (const s of subs) {
    await s.waitForMessages(7, 10_000);
    await sleep(20);
    assert.equal(
      s.messages().map((e) => e.id),
      [...before, ...after],
      'every message once, in order',
    );
    const gaps = s.events.filter((e) => e.event === 'gap');
    assert.is(gaps.length, 1, 'one gap');
    const gap = JSON.parse(gaps[0].data);
    assert.is(gap.reason, 'reset');
    assert.is(gap.requested, before[2]);
    const at = s.events.indexOf(gaps[0]);
    assert.equal(dataOf(s.events.slice(0, at)), ['pre-1', 'pre-2', 'pre-3']);
  }
  assert.is(await sidecarSseCount(group), 1, 'one upstream again');

  // A subscriber that left before the restart comes back with its last id.
  const back = await sse(ed(), group, { 'Last-Event-ID': lastSeen });
  await back.waitForMessages(4);
  const gap = await back.waitForEvent('gap');
  assert.equal(JSON.parse(gap.data), {
    requested: lastSeen,
    resumedFrom: after[0],
    reason: 'reset',
  });
  assert.equal(dataOf(back.events), ['post-1', 'post-2', 'post-3', 'post-4']);
  assert.is(back.events[0].event, 'gap', 'the gap comes first');
  const healthy = await request(ed(), 'GET', '/healthz');
  assert.is(healthy.status, 200);
  assert.is(healthy.json.upstream.status, 'ok');
});

test('the edge worker stops cleanly on SIGTERM, ending its streams', async () => {
  const s = await sse(ed(), 'bye');
  assert.is(await edge.stop('SIGTERM'), 0);
  await s.waitEnded();
  assert.is((await s.waitForEvent('close')).data.includes('SHUTTING_DOWN'), true);
  await waitFor(async () => (await sidecarSseCount('bye')) === 0, 5000, 'upstream released');
  edge = await startEdgeProcess(sc());
});

test('with auth on both: the edge checks its clients and shows the sidecar its own token', async () => {
  const locked = await startSidecarProcess({ GROUPCAST_API_KEYS: 'sidecar-key' });
  const good = await startEdgeProcess(locked.addresses.http, {
    GROUPCAST_API_KEYS: 'edge-key',
    GROUPCAST_SIDECAR_TOKEN: 'sidecar-key',
  });
  const bad = await startEdgeProcess(locked.addresses.http, {
    GROUPCAST_SIDECAR_TOKEN: 'wrong-key',
  });
  try {
    const e = good.addresses.http;
    const anonymous = await request(e, 'POST', '/groups/locked/messages', 'x');
    assert.is(anonymous.status, 401);
    assert.is(anonymous.json.error.code, 'UNAUTHORIZED');
    const sidecarKey = await request(e, 'POST', '/groups/locked/messages', 'x', {
      Authorization: 'Bearer sidecar-key',
    });
    assert.is(sidecarKey.status, 401, "the sidecar's key means nothing to the edge");
    const sub = await sse(e, 'locked', { Authorization: 'Bearer edge-key' });
    const ok = await request(e, 'POST', '/groups/locked/messages', 'let in', {
      Authorization: 'Bearer edge-key',
    });
    assert.is(ok.status, 202);
    assert.is((await sub.waitForMessages(1))[0].data, 'let in');
    sub.close();
    const refused = await request(bad.addresses.http, 'POST', '/groups/locked/messages', 'x');
    assert.is(refused.status, 502);
    assert.is(refused.json.error.code, 'UPSTREAM_UNAVAILABLE');
    assert.match(refused.json.error.message, /401/);
    const health = await request(bad.addresses.http, 'GET', '/healthz');
    assert.is(health.status, 200, 'the sidecar is reachable');
    assert.is(health.json.status, 'degraded', 'but it refuses the edge');
    assert.match(health.json.upstream.error, /401/);
  } finally {
    await good.stop();
    await bad.stop();
    await locked.stop();
  }
});

test.run();
