/**
 * 0. Start-up: how long `node sidecar/bin.js` (what `npm start` runs: the bundle `npm install`
 * builds, or the sources through tsx when it is missing or stale) takes from
 * spawn to its last listener's "listening" line, and its resident memory after a second idle
 * with no member. A fresh process per round; every listener on a port the kernel picks. Then
 * the Deno edge worker the same way (rows with target `edge`).
 */
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { freePort, ROOT, rssBytes, sleep, spawnGroup, waitForLine, waitForPort } from '../procs.ts';
import { startGroupcast } from '../targets/groupcast.ts';
import { LOCALHOST } from '../targets/types.ts';

const SCENARIO = 'Start-up';
const IDLE_MS = 1000;

type Row = ReturnType<Context['results']['row']>;
type Proc = ReturnType<typeof spawnGroup>;

/** Times a started process until `ready`, then its idle RSS; always stops it. */
async function measure(
  proc: Proc,
  t0: number,
  ready: () => Promise<unknown>,
  rows: { toListening: Row; idleRss: Row },
): Promise<void> {
  try {
    await ready();
    rows.toListening.samples.push({ ok: true, value: (performance.now() - t0) * 1000 });
    await sleep(IDLE_MS);
    rows.idleRss.samples.push({ ok: true, value: rssBytes(proc.pid) });
  } catch (err) {
    const error = (err as Error).message.split('\n')[0];
    rows.toListening.samples.push({ ok: false, value: Number.NaN, error });
  } finally {
    await proc.stop();
  }
}

export async function startup(ctx: Context): Promise<void> {
  const toListening = ctx.results.row(SCENARIO, 'to listening', 'groupcast', {
    unit: 'µs',
    better: 'lower',
    checkLoss: false,
  });
  const idleRss = ctx.results.row(SCENARIO, 'idle RSS', 'groupcast', {
    unit: 'bytes',
    better: 'lower',
    checkLoss: false,
  });
  for (let round = 0; round < ctx.settings.rounds; round++) {
    const t0 = performance.now();
    const proc = spawnGroup('groupcast-startup', process.execPath, ['sidecar/bin.js'], {
      env: {
        GROUPCAST_HOST: '127.0.0.1',
        GROUPCAST_TCP_PORT: '0',
        GROUPCAST_UDP_PORT: '0',
        GROUPCAST_HTTP_PORT: '0',
        GROUPCAST_RESP_PORT: 'off',
        GROUPCAST_LOG_FORMAT: 'json',
      },
    });
    // The HTTP listener is the last to open.
    await measure(proc, t0, () => waitForLine(proc, /"msg":"http listening on /, 20_000), {
      toListening,
      idleRss,
    });
  }
  await edgeStartup(ctx);
}

const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

/**
 * The Deno edge worker the same way: `deno run api/edge/deno.ts` (what `deno task edge` runs) in front
 * of one sidecar started beforehand, from spawn to its port accepting connections (polled every
 * 25 ms; the edge prints no listening line), and its own RSS after an idle second.
 */
async function edgeStartup(ctx: Context): Promise<void> {
  const opts = { unit: 'µs', better: 'lower', checkLoss: false } as const;
  const toListening = ctx.results.row(SCENARIO, 'to listening', 'edge', opts);
  const idleRss = ctx.results.row(SCENARIO, 'idle RSS', 'edge', { ...opts, unit: 'bytes' });
  const sidecar = await startGroupcast('edge-startup-sidecar');
  try {
    if (!sidecar.http) throw new Error('the sidecar has no HTTP API');
    const upstream = `http://${sidecar.http.addr.host}:${sidecar.http.addr.port}`;
    for (let round = 0; round < ctx.settings.rounds; round++) {
      const port = await freePort();
      const t0 = performance.now();
      const proc = spawnGroup(
        'edge-startup',
        DENO,
        ['run', '--allow-net', '--allow-env', 'api/edge/deno.ts'],
        {
          env: {
            GROUPCAST_EDGE_HOST: LOCALHOST,
            GROUPCAST_EDGE_PORT: String(port),
            GROUPCAST_SIDECAR_URL: upstream,
            GROUPCAST_LOG_LEVEL: 'warn',
          },
        },
      );
      await measure(proc, t0, () => waitForPort(port, proc), { toListening, idleRss });
    }
  } finally {
    await sidecar.stop();
  }
}
