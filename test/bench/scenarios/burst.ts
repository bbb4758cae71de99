/**
 * 11. Burst: a TCP publisher writes 64 MiB (quick: 16 MiB) and 256 MiB of 1 KiB lines at once
 * into a group with two reading TCP members and one reading SSE subscriber, first alone, then
 * with a fourth member that never reads. Every reader must get every line in order (flow
 * control slows the publisher to the readers' pace); the stopped member is cut. Reported: the
 * readers' throughput, when the stopped member was cut, and the sidecar's RSS growth.
 */
import { runBurst, SseBurstReader, stoppedMember, TcpBurstReader } from '../../helpers/burst.ts';
import { type Context, usageOf } from '../context.ts';
import { sleep } from '../procs.ts';
import { groupcast } from '../targets/groupcast.ts';
import type { Endpoint } from '../targets/types.ts';

const SCENARIO = 'Burst';
const MiB = 1024 * 1024;
const STALL = '1s';

const address = (e: Endpoint) => `${e.host}:${e.port}`;

export async function burst(ctx: Context): Promise<void> {
  const sizes = ctx.settings.measureMs < 1000 ? [16] : [64, 256];
  for (const mib of sizes) {
    for (const stopped of [false, true]) {
      const kase = `${mib} MiB, ${stopped ? 'one member stopped' : 'all reading'}`;
      const t = await ctx.fresh(groupcast, { env: { GROUPCAST_STALL_TIMEOUT: STALL } });
      if (typeof t === 'string') {
        ctx.results.skip(SCENARIO, kase, 'groupcast', 'MiB/s', t);
        continue;
      }
      const row = ctx.results.row(SCENARIO, kase, 'groupcast', {
        unit: 'MiB/s',
        better: 'higher',
        checkLoss: true,
        note: 'each reader, whole burst',
      });
      try {
        const tcp = address(t.tcp?.addr as Endpoint);
        const http = address(t.http?.addr as Endpoint);
        const group = `burst-${mib}`;
        const readers = [
          await TcpBurstReader.join(tcp, group),
          await TcpBurstReader.join(tcp, group),
          await SseBurstReader.open(http, group),
        ];
        const silent = stopped ? await stoppedMember(tcp, group) : null;
        await sleep(200);
        const before = usageOf(t).rss;
        let peak = before;
        const sampler = setInterval(() => {
          peak = Math.max(peak, usageOf(t).rss);
        }, 50);
        const lines = mib * 1024;
        let lost = 0;
        let value = 0;
        let error: string | undefined;
        try {
          value =
            (await runBurst(tcp, group, lines, readers, 60_000 + mib * 500)).bytesPerSecond / MiB;
        } catch (err) {
          error = (err as Error).message;
          lost = readers.reduce((n, r) => n + (lines - r.lines), 0);
        } finally {
          clearInterval(sampler);
        }
        const cut = readers.some((r) => ('closed' in r ? r.closed : r.ended));
        row.samples.push({
          ok: error === undefined && !cut,
          error: error ?? (cut ? 'a reader was cut' : undefined),
          value,
          lost,
          extra: { rssGrowth: peak - before, readersCut: cut },
        });
        ctx.log(
          `  ${SCENARIO} ${kase}: ${value.toFixed(0)} MiB/s per reader, sidecar RSS +${((peak - before) / MiB).toFixed(1)} MiB${error ? `; ${error}` : ''}`,
        );
        silent?.destroy();
        for (const r of readers) {
          if (r instanceof SseBurstReader) r.close();
          else r.socket.destroy();
        }
      } finally {
        await t.stop();
      }
    }
  }
}
