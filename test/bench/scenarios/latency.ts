/**
 * 5. Latency at fixed loads. Each message carries its intended send time and latency is taken
 * from that, so a stalled sender or server is charged in full (no coordinated omission). The
 * servers and the load worker run under SCHED_FIFO while measured (realtime.ts; --no-realtime
 * turns it off): without it the tail is the machine's scheduling, not the servers'.
 */
import { type Context, compare, sharedTargets } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { realtime } from '../realtime.ts';
import { forwarder, nats, redis } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';

export const LATENCY_CASES = [
  { rate: 10_000, n: 10, kase: '10k msg/s, 1:10' },
  { rate: 1_000, n: 100, kase: '1k msg/s, 1:100' },
];

export async function latency(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, redis, nats, forwarder]);
  const measureMs = ctx.settings.latencyMs;
  const pgids = [ctx.worker.proc.pid];
  for (const t of field.targets)
    if (typeof t !== 'string') for (const p of t.procs) pgids.push(p.pid);
  const why = ctx.realtime ? realtime(pgids, true) : 'off (--no-realtime)';
  const priority = why === null ? 'SCHED_FIFO' : `normal priority: real-time ${why}`;
  ctx.log(`  latency: servers and load worker at ${priority}`);
  try {
    await cases(ctx, field, measureMs, priority);
  } finally {
    if (why === null) realtime(pgids, false);
  }
}

async function cases(
  ctx: Context,
  field: Awaited<ReturnType<typeof sharedTargets>>,
  measureMs: number,
  priority: string,
): Promise<void> {
  for (const { rate, n, kase } of LATENCY_CASES) {
    await compare(
      ctx,
      'Latency p99',
      kase,
      field.each((t) =>
        tcpJob(ctx, t, {
          groups: 1,
          publishers: 1,
          receivers: n,
          pace: { kind: 'rate', perPublisher: rate },
          fullCheck: true,
          measureMs,
        }),
      ),
      {
        unit: 'µs',
        better: 'lower',
        checkLoss: true,
        note: `p50, p99.9 and max in the absolute table; ${priority}`,
      },
      { value: (r) => r.latency?.p99 ?? Number.NaN },
    );
  }
}
