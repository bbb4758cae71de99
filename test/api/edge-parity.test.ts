// The edge worker answers hostile and careless input as the sidecar does (issue 12): HEAD leaves
// nothing behind, '.' and '..' are not group ids, a bad ?from= is 400, a stream opens with the
// group's position, and its logs have the sidecar's shape. Real processes: Node and Deno.
import { request as httpRequest } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request, startEdgeProcess, startSidecarProcess } from '../helpers/edge.ts';
import type { Started } from '../helpers/process.ts';
import { hostPort, sleep } from '../helpers/sidecar.ts';

let sidecar: Started;
let edge: Started;
const sc = () => sidecar.addresses.http;
const ed = () => edge.addresses.http;

test.before(async () => {
  sidecar = await startSidecarProcess({ GROUPCAST_LOG_LEVEL: 'info' });
  edge = await startEdgeProcess(sc(), { GROUPCAST_LOG_LEVEL: 'debug' });
});
test.after(async () => {
  await edge?.stop();
  await sidecar?.stop();
});

/** A request with its path exactly as written (fetch would normalise dot segments). */
function raw(
  base: string,
  method: string,
  path: string,
): Promise<{ status: number; text: string }> {
  const { host, port } = hostPort(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no complete answer`)));
    req.end(method === 'POST' ? 'x' : undefined);
  });
}

/** The first `n` bytes of a new stream (the opening: retry hint and position). */
async function opening(base: string, group: string): Promise<string> {
  const ctl = new AbortController();
  const res = await fetch(`http://${base}/groups/${group}/events`, { signal: ctl.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  const deadline = Date.now() + 5000;
  while ((text.match(/\n\n/g) ?? []).length < 2 && Date.now() < deadline) {
    text += new TextDecoder().decode((await reader.read()).value);
  }
  ctl.abort();
  return text;
}

test('HEAD on an event stream leaves no subscriber on the edge or the sidecar', async () => {
  for (const base of [sc(), ed()]) {
    for (let i = 0; i < 5; i++)
      assert.is((await raw(base, 'HEAD', '/groups/head/events')).status, 200);
  }
  await sleep(200);
  const edgeMetrics = await (await fetch(`http://${ed()}/metrics`)).text();
  assert.match(edgeMetrics, /^groupcast_edge_subscribers 0$/m);
  const health = (await request(sc(), 'GET', '/healthz')).json;
  assert.is(health.connections.sse, 0, 'no phantom subscriber on the sidecar');
});

test("'.', '..' and a bad ?from= get the same 400 and code from the edge as from the sidecar", async () => {
  for (const [method, path, code] of [
    ['GET', '/groups/..', 'INVALID_GROUP_ID'],
    ['GET', '/groups/%2E%2E/messages', 'INVALID_GROUP_ID'],
    ['POST', '/groups/./messages', 'INVALID_GROUP_ID'],
    ['GET', '/groups/%2e/events', 'INVALID_GROUP_ID'],
    ['GET', '/groups/f/events?from=garbage', 'BAD_REQUEST'],
    ['GET', '/groups/f/events?from=EARLIEST', 'BAD_REQUEST'],
  ]) {
    for (const base of [sc(), ed()]) {
      const r = await raw(base, method, path);
      assert.is(r.status, 400, `${base} ${method} ${path}: ${r.text}`);
      assert.is(JSON.parse(r.text).error.code, code, `${base} ${method} ${path}`);
    }
  }
});

test("an edge stream opens as the sidecar's does: retry, then the group's position", async () => {
  const posted = await request(sc(), 'POST', '/groups/pos/messages', 'one');
  const id = posted.json.ids[0];
  const fromSidecar = await opening(sc(), 'pos');
  const fromEdge = await opening(ed(), 'pos');
  assert.is(fromSidecar, `retry: 2000\n\nid: ${id}\n\n`);
  assert.is(fromEdge, fromSidecar);
});

test("the edge's log lines have the sidecar's shape: level name, ISO time, pid", async () => {
  const shape = (line: string) => {
    const o = JSON.parse(line);
    return {
      level: typeof o.level === 'string' && /^[a-z]+$/.test(o.level),
      time: typeof o.time === 'string' && !Number.isNaN(Date.parse(o.time)) && o.time.endsWith('Z'),
      pid: Number.isInteger(o.pid),
      msg: typeof o.msg === 'string',
    };
  };
  const first = (out: string) => out.split('\n').find((l) => l.startsWith('{')) as string;
  const want = { level: true, time: true, pid: true, msg: true };
  assert.equal(shape(first(sidecar.stdout())), want, first(sidecar.stdout()));
  assert.equal(shape(first(edge.stdout())), want, first(edge.stdout()));
  const keys = (line: string) => Object.keys(JSON.parse(line)).slice(0, 3);
  assert.equal(keys(first(edge.stdout())), keys(first(sidecar.stdout())));
});

test.run();
