/**
 * 6. Slow consumer: one of ten members stops reading. The other nine must keep >= 0.9x the rate
 * they get when all read, the sidecar's memory must stay bounded, and the stopped member must be
 * cut once its unsent bytes pass GROUPCAST_MAX_PENDING_BYTES.
 */
import { type Context, measure, usageOf } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { groupcast } from '../targets/groupcast.ts';

export const SLOW_LIMIT = 4 * 1024 * 1024;
const SCENARIO = 'Slow consumer';
const ALL = '1:10, all reading';
const ONE = '1:10, one stopped';

export async function slow(ctx: Context): Promise<void> {
  const t = await ctx.fresh(groupcast, {
    env: { GROUPCAST_MAX_PENDING_BYTES: String(SLOW_LIMIT) },
  });
  if (typeof t === 'string') {
    ctx.results.skip(SCENARIO, ONE, 'groupcast', 'msg/s', t);
    return;
  }
  try {
    const cuts: number[] = [];
    t.procs[0].onLine((line) => {
      const m = /SLOW_CONSUMER.*?(\d+) bytes pending, limit (\d+)/.exec(line);
      if (m) cuts.push(Number(m[1]));
    });
    const job = tcpJob(ctx, t, { groups: 1, publishers: 1, receivers: 10 });
    if (typeof job === 'string') throw new Error(job);
    const row = { unit: 'msg/s', better: 'higher', checkLoss: true } as const;
    const all = ctx.results.row(SCENARIO, ALL, 'groupcast', {
      ...row,
      note: 'slowest receiver, msg/s',
    });
    const one = ctx.results.row(SCENARIO, ONE, 'groupcast', {
      ...row,
      note: 'slowest of the nine still reading',
    });
    for (let round = 0; round < ctx.settings.rounds; round++) {
      all.samples.push(await measure(ctx, t, job, { value: (r) => r.minReceiverRate }));
      const before = usageOf(t).rss;
      let peak = before;
      const cutsBefore = cuts.length;
      const s = await measure(
        ctx,
        t,
        { ...job, slowReceiver: true },
        {
          value: (r) => r.minReceiverRate,
          onTick: () => {
            peak = Math.max(peak, usageOf(t).rss);
          },
        },
      );
      const pending = cuts.length > cutsBefore ? cuts[cuts.length - 1] : Number.NaN;
      s.extra = {
        ...s.extra,
        rssBefore: before,
        rssPeak: peak,
        rssGrowth: peak - before,
        cutLogged: cuts.length > cutsBefore,
        pendingAtCut: pending,
        limit: SLOW_LIMIT,
      };
      one.samples.push(s);
    }
    ctx.log(
      `  ${SCENARIO}: all reading ${ctx.results.value(SCENARIO, ALL, 'groupcast').toFixed(0)}/s per receiver, one stopped ${ctx.results.value(SCENARIO, ONE, 'groupcast').toFixed(0)}/s; cuts logged ${cuts.length}`,
    );
  } finally {
    await t.stop();
  }
}
