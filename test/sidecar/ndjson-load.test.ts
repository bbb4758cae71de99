// The largest NDJSON bodies against a sidecar process (issue 12): no POST holds the event loop,
// the answer stays small, and memory stays within a few times the body.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_BODY_BYTES } from '../../shared/options/sidecar.ts';
import { startSidecarProcess } from '../helpers/edge.ts';
import type { Started } from '../helpers/process.ts';
import { hostPort } from '../helpers/sidecar.ts';

/**
 * The sidecar's event loop may be held at most this long while a maximum-size POST is handled
 * (its own longest delay, prom-client's eventloop_lag_max, not a client's round trip, which also
 * counts the test's own sending and the machine's scheduling).
 */
const LOOP_HELD_MS = 50;

/** The sidecar's longest event-loop delay since the last call (each scrape resets it), in ms. */
async function loopLagMaxMs(): Promise<number> {
  const text = await (await fetch(`http://${sidecar.addresses.http}/metrics`)).text();
  const m = /^groupcast_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  if (!m) throw new Error('no groupcast_nodejs_eventloop_lag_max_seconds in /metrics');
  return Number(m[1]) * 1000;
}

let sidecar: Started;

test.before(async () => {
  sidecar = await startSidecarProcess({ GROUPCAST_LOG_LEVEL: 'error' });
  // The sidecar loads its HTTP adapter on the first request its app answers: not what is timed.
  for (let i = 0; i < 5; i++)
    await (await fetch(`http://${sidecar.addresses.http}/healthz`)).text();
});
test.after(async () => {
  await sidecar?.stop();
});

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function postNdjson(body: Buffer): Promise<{ status: number; text: string }> {
  const { host, port } = hostPort(sidecar.addresses.http);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method: 'POST',
        path: '/groups/big/messages',
        agent: false,
        headers: { 'Content-Type': 'application/x-ndjson', 'Content-Length': body.byteLength },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.end(body);
  });
}

/**
 * Times /healthz back to back from a thread of its own, so what this thread does meanwhile
 * (sending 16 MiB, sampling RSS, collecting garbage) is not counted as the sidecar's delay.
 * Posts 'ready' after its own first requests (the first fetch of a thread loads undici), and the
 * slowest answer once told to stop.
 */
const HEALTH_PROBE = `
const { parentPort, workerData } = require('node:worker_threads');
let done = false;
parentPort.on('message', () => { done = true; });
(async () => {
  const once = async () => { const res = await fetch(workerData.url); await res.arrayBuffer(); };
  for (let i = 0; i < 5; i++) await once();
  parentPort.postMessage('ready');
  let slowest = 0;
  while (!done) {
    const t0 = performance.now();
    await once();
    slowest = Math.max(slowest, performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  parentPort.postMessage(slowest);
})();
`;

/** Runs `work()` while timing /healthz; resolves with its result, the slowest answer and peak RSS. */
async function whileTimingHealth<T>(
  work: () => Promise<T>,
): Promise<{ result: T; slowestMs: number; heldMs: number; peak: number }> {
  const pid = sidecar.child.pid as number;
  const probe = new Worker(HEALTH_PROBE, {
    eval: true,
    workerData: { url: `http://${sidecar.addresses.http}/healthz` },
  });
  const answers: unknown[] = [];
  let answered: (() => void) | undefined;
  probe.on('message', (m) => {
    answers.push(m);
    answered?.();
  });
  const next = async (): Promise<unknown> => {
    while (answers.length === 0) await new Promise<void>((resolve) => (answered = resolve));
    return answers.shift();
  };
  try {
    assert.is(await next(), 'ready');
    await loopLagMaxMs();
    let peak = rss(pid);
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(pid));
    }, 20);
    try {
      const result = await work();
      const heldMs = await loopLagMaxMs();
      probe.postMessage('stop');
      const slowestMs = (await next()) as number;
      return { result, slowestMs, heldMs, peak: Math.max(peak, rss(pid)) };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await probe.terminate();
  }
}

test('16 MiB of one-byte lines: 413 TOO_MANY_MESSAGES, and the event loop is never held', async () => {
  const body = Buffer.from('1\n'.repeat(Math.floor((DEFAULT_MAX_BODY_BYTES - 1) / 2)));
  const { result, slowestMs, heldMs } = await whileTimingHealth(() => postNdjson(body));
  assert.is(result.status, 413, result.text.slice(0, 200));
  assert.is(JSON.parse(result.text).error.code, 'TOO_MANY_MESSAGES');
  assert.ok(
    heldMs < LOOP_HELD_MS,
    `event loop held ${heldMs.toFixed(1)} ms (/healthz slowest ${slowestMs.toFixed(1)} ms)`,
  );
});

test('a maximum-size batch (16 MiB, 10,000 lines) is published: small answer, the event loop never held, memory under 4x the body', async () => {
  const n = 10_000;
  const line = `"${'x'.repeat(Math.floor(DEFAULT_MAX_BODY_BYTES / n) - 4)}"\n`;
  const body = Buffer.from(line.repeat(n));
  assert.ok(body.byteLength <= DEFAULT_MAX_BODY_BYTES);
  const pid = sidecar.child.pid as number;
  const before = rss(pid);
  const { result, slowestMs, heldMs, peak } = await whileTimingHealth(() => postNdjson(body));
  assert.is(result.status, 202, result.text.slice(0, 200));
  assert.ok(result.text.length < 200, `answer of ${result.text.length} bytes`);
  const reply = JSON.parse(result.text);
  assert.is(reply.count, n);
  const growth = peak - before;
  console.log(
    `max NDJSON POST: event loop held ${heldMs.toFixed(1)} ms at most, /healthz slowest ${slowestMs.toFixed(1)} ms; sidecar RSS +${(growth / 2 ** 20).toFixed(1)} MiB for a ${(body.byteLength / 2 ** 20).toFixed(1)} MiB body`,
  );
  assert.ok(heldMs < LOOP_HELD_MS, `event loop held ${heldMs.toFixed(1)} ms`);
  assert.ok(growth < 4 * body.byteLength, `RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
});

test.run();
