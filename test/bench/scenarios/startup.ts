/**
 * 0. Start-up: how long `node sidecar/bin.js` (what `npm start` runs: the bundle `npm install`
 * builds, or the sources through tsx when it is missing or stale) takes from
 * spawn to its last listener's "listening" line, and its resident memory after a second idle
 * with no member. A fresh process per round; every listener on a port the kernel picks.
 */
import type { Context } from '../context.ts';
import { rssBytes, sleep, spawnGroup, waitForLine } from '../procs.ts';

const SCENARIO = 'Start-up';
const IDLE_MS = 1000;

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
        GROUPCAST_LOG_FORMAT: 'json',
      },
    });
    try {
      // The HTTP listener is the last to open.
      await waitForLine(proc, /"msg":"http listening on /, 20_000);
      toListening.samples.push({ ok: true, value: (performance.now() - t0) * 1000 });
      await sleep(IDLE_MS);
      idleRss.samples.push({ ok: true, value: rssBytes(proc.pid) });
    } catch (err) {
      const error = (err as Error).message.split('\n')[0];
      toListening.samples.push({ ok: false, value: Number.NaN, error });
    } finally {
      await proc.stop();
    }
  }
}
