import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostPort, sleep } from '../helpers/common.ts';
import type { Started } from '../helpers/process.ts';
import { metricOf, peakRss, rssOf, startSidecarProcess } from '../helpers/sidecar-process.ts';
import { SseClient } from '../helpers/sse.ts';

const MiB = 1024 * 1024;
const BUDGET = 128 * MiB;
/**
 * What RSS may grow past the budget: the heap's growth and dead 1 MiB buffers not yet collected.
 * Measured +169-174 MiB in all (the budget asks for a full collection after each 1/8 of it evicted
 * in large batches); +206-228 without that, when V8 collected only after 64 MiB of new buffers.
 */
const MARGIN = 64 * MiB;

const procs: Started[] = [];
test.after.each(async () => {
  for (const p of procs.splice(0)) await p.stop();
});

/** POSTs `count` bodies of `size` bytes round-robin into `groups` groups, `parallel` at a time. */
async function flood(
  http: string,
  count: number,
  size: number,
  groups: number,
  parallel: number,
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const body = Buffer.alloc(size - 1, 'b');
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`http://${http}/groups/g${i % groups}/messages`, {
        method: 'POST',
        body,
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return statuses;
}

test('400 MiB of 1 MiB POSTs into 80 groups stay within the memory budget; evicted history replays as a gap', async () => {
  const sc = await startSidecarProcess({ GROUPCAST_MEMORY_BUDGET: `${BUDGET / MiB}MiB` });
  procs.push(sc);
  const http = sc.addresses.http;
  const pid = sc.child.pid as number;
  // The first message of g0, to ask for it back after it is evicted.
  const first = await fetch(`http://${http}/groups/g0/messages`, { method: 'POST', body: 'first' });
  const firstId = (await first.json()).ids[0];
  await sleep(200);
  const before = rssOf(pid);
  const { result: statuses, peak } = await peakRss(pid, () => flood(http, 400, MiB, 80, 4));
  const growth = peak - before;
  const history = await metricOf(http, 'groupcast_memory_bytes{kind="history"}');
  const evicted = await metricOf(http, 'groupcast_history_evicted_bytes_total');
  console.log(
    `  budget ${BUDGET / MiB} MiB: RSS +${(growth / MiB).toFixed(0)} MiB at peak, history ${(history / MiB).toFixed(0)} MiB, evicted ${(evicted / MiB).toFixed(0)} MiB; answers ${JSON.stringify([...statuses])}`,
  );
  assert.ok(growth < BUDGET + MARGIN, `RSS grew ${(growth / MiB).toFixed(0)} MiB`);
  assert.ok(history <= BUDGET, `history holds ${history} bytes`);
  assert.ok(evicted >= 200 * MiB, `evicted ${evicted} bytes`);
  // Every POST was either stored or refused whole, with the budget's code.
  for (const s of statuses.keys()) assert.ok(s === 202 || s === 503, `status ${s}`);
  assert.ok((statuses.get(202) ?? 0) > 300, 'most POSTs were taken');

  const c = await SseClient.open(`http://${http}/groups/g0/events`, { 'Last-Event-ID': firstId });
  const gap = JSON.parse((await c.waitForEvent('gap')).data);
  c.close();
  assert.is(gap.requested, firstId);
  assert.is(gap.reason, 'evicted');
});

/**
 * POSTs `count` bodies of `size` bytes round-robin into `groups` groups over 16 raw kept-alive
 * connections, 50 pipelined at a time: many small messages fast. Resolves with the statuses.
 */
async function pipelined(
  http: string,
  count: number,
  size: number,
  groups: number,
): Promise<Map<string, number>> {
  const { host, port } = hostPort(http);
  const body = 'p'.repeat(size);
  const statuses = new Map<string, number>();
  let next = 0;
  const connection = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port });
      let waiting = 0;
      let text = '';
      const send = () => {
        if (next >= count) {
          socket.destroy();
          resolve();
          return;
        }
        let out = '';
        for (let k = 0; k < 50 && next < count; k++, waiting++) {
          out += `POST /groups/s${next++ % groups}/messages HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${body}`;
        }
        socket.write(out);
      };
      socket.on('error', reject);
      socket.on('connect', send);
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        // Each answer is a head and a JSON body ending in `}`.
        for (let at = text.indexOf('HTTP/1.1 '); at >= 0; at = text.indexOf('HTTP/1.1 ')) {
          const end = text.indexOf('}', at);
          if (end < 0) break;
          const status = text.slice(at + 9, at + 12);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          text = text.slice(end + 1);
          waiting--;
        }
        if (waiting === 0) send();
      });
    });
  await Promise.all(Array.from({ length: 16 }, connection));
  return statuses;
}

test('small messages, a batch each, are held within the budget with what each batch costs', async () => {
  const sc = await startSidecarProcess({ GROUPCAST_MEMORY_BUDGET: '16MiB' });
  procs.push(sc);
  const http = sc.addresses.http;
  const pid = sc.child.pid as number;
  await fetch(`http://${http}/groups/s0/messages`, { method: 'POST', body: 'first' });
  await sleep(200);
  const before = rssOf(pid);
  const { result: statuses, peak } = await peakRss(pid, () => pipelined(http, 400_000, 40, 1000));
  const growth = peak - before;
  const held = await metricOf(http, 'groupcast_history_messages');
  const history = await metricOf(http, 'groupcast_memory_bytes{kind="history"}');
  console.log(
    `  budget 16 MiB, 400,000 POSTs of 40 bytes into 1,000 groups: ${held} held, history charged ${(history / MiB).toFixed(1)} MiB, RSS +${(growth / MiB).toFixed(0)} MiB at peak; answers ${JSON.stringify([...statuses])}`,
  );
  assert.equal([...statuses], [['202', 400_000]]);
  // Counted by their bytes alone (41 each), all 400,000 fit in 16 MiB: the heap held 522 bytes
  // more for each, and RSS grew about 300 MiB.
  assert.ok(held < (16 * MiB) / 512, `${held} messages held`);
  assert.ok(history <= 16 * MiB, `history charged ${history}`);
  // The budget, and the heap's room for 400,000 requests' garbage (+142 MiB measured).
  assert.ok(growth < 200 * MiB, `RSS grew ${(growth / MiB).toFixed(0)} MiB`);
});

test('over budget with nothing left to evict, a POST is refused with 503 OVER_BUDGET and Retry-After before its body is read', async () => {
  // History off: only bodies in flight use the budget.
  const sc = await startSidecarProcess({
    GROUPCAST_MEMORY_BUDGET: '4MiB',
    GROUPCAST_HISTORY_MESSAGES: '0',
    GROUPCAST_MAX_BODY_BYTES: '16MiB',
  });
  procs.push(sc);
  const http = sc.addresses.http;
  const small = await fetch(`http://${http}/groups/b/messages`, { method: 'POST', body: 'fits' });
  assert.is(small.status, 202);
  const big = await fetch(`http://${http}/groups/b/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-ndjson' },
    body: `${'{"x":1}\n'.repeat(1024 * 1024)}`,
  });
  assert.is(big.status, 503);
  assert.is(big.headers.get('retry-after'), '1');
  assert.is((await big.json()).error.code, 'OVER_BUDGET');
  assert.ok((await metricOf(http, 'groupcast_budget_refusals_total')) >= 1);
  const again = await fetch(`http://${http}/groups/b/messages`, { method: 'POST', body: 'fits' });
  assert.is(again.status, 202, 'the budget is free again');
});

test.run();
