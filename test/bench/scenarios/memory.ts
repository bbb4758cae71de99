/**
 * 7. Memory: resident bytes per idle member. A fresh server per measurement; N members in 100
 * groups connect, each proves it receives (one probe per group), then the server's RSS growth
 * over its idle RSS is divided by N while every connection is held. Node baselines run as plain
 * JavaScript, as groupcast does.
 */
import { type Context, usageOf } from '../context.ts';
import { postSseJob, tcpJob } from '../jobs.ts';
import type { FlowJob } from '../load/job.ts';
import { sleep } from '../procs.ts';
import { forwarder, nats, nchan, nodeSse, redis } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';
import type { Running, TargetSpec } from '../targets/types.ts';

const GROUPS = 100;

export async function memory(ctx: Context): Promise<void> {
  const n = ctx.settings.memoryMembers;
  const per = Math.max(1, Math.floor(n / GROUPS));
  const shape = { groups: GROUPS, publishers: 1, receivers: per };
  const kinds: { scenario: string; specs: TargetSpec[]; job: (t: Running) => FlowJob | string }[] =
    [
      {
        scenario: 'Memory per idle TCP member',
        specs: [groupcast, redis, nats, forwarder],
        job: (t) => tcpJob(ctx, t, shape),
      },
      {
        scenario: 'Memory per idle SSE subscriber',
        specs: [groupcast, nchan, nodeSse],
        job: (t) => postSseJob(ctx, t, shape),
      },
    ];
  const kase = `${per * GROUPS} members`;
  for (const kind of kinds) {
    for (let round = 0; round < ctx.settings.memoryRounds; round++) {
      for (const spec of kind.specs) {
        // Every Node process as plain JavaScript: groupcast from its bundle, the baselines
        // transpiled (see StartOptions.plainJs).
        const t = await ctx.fresh(spec, { plainJs: true });
        if (typeof t === 'string') {
          ctx.results.skip(kind.scenario, kase, spec.name, 'bytes', t);
          continue;
        }
        try {
          const job = kind.job(t);
          if (typeof job === 'string') {
            ctx.results.skip(kind.scenario, kase, spec.name, 'bytes', job);
            continue;
          }
          await sleep(300);
          const before = usageOf(t).rss;
          let held = before;
          let connections = 0;
          const r = await ctx.worker.run(
            { ...job, hold: true },
            {
              onHeld: async (c) => {
                connections = c;
                await sleep(1000);
                held = usageOf(t).rss;
              },
            },
          );
          const row = ctx.results.row(kind.scenario, kase, spec.name, {
            unit: 'bytes',
            better: 'lower',
            checkLoss: false,
          });
          row.samples.push({
            ok: r.ok,
            error: r.error,
            value: r.ok ? (held - before) / (per * GROUPS) : Number.NaN,
            extra: { rssIdle: before, rssHeld: held, connections },
          });
        } finally {
          await t.stop();
        }
      }
    }
    const parts = kind.specs.map(
      (s) => `${s.name} ${(ctx.results.value(kind.scenario, kase, s.name) / 1024).toFixed(1)} KiB`,
    );
    ctx.log(`  ${kind.scenario} (${kase}): ${parts.join(', ')}`);
  }
}
