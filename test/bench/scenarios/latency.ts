/**
 * 5. Latency at fixed loads. Each message carries its intended send time and latency is taken
 * from that, so a stalled sender or server is charged in full (no coordinated omission). With
 * --realtime the cases run a second time with the servers and the load worker under SCHED_FIFO
 * (realtime.ts): on a small shared machine most of the tail at normal priority is time spent
 * waiting for a CPU, which that takes out.
 */
import { type Context, compare, sharedTargets } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { realtime } from '../realtime.ts';
import { forwarder, nats, redis } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';

export const SCENARIO = 'Latency p99';

export const LATENCY_CASES = [
  { rate: 10_000, n: 10, kase: '10k msg/s, 1:10' },
  { rate: 1_000, n: 100, kase: '1k msg/s, 1:100' },
];

export async function latency(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, redis, nats, forwarder]);
  const measureMs = ctx.settings.latencyMs;
  // At the priority a user's processes run at: what the Targets table checks.
  await cases(ctx, field, measureMs, SCENARIO, () => 'normal priority');
  if (!ctx.realtime) return;
  // Then the same cases with the machine's run queue taken out (--realtime): servers and load
  // worker under SCHED_FIFO, every target alike.
  const pgids = [ctx.worker.proc.pid];
  for (const t of field.targets)
    if (typeof t !== 'string') for (const p of t.procs) pgids.push(p.pid);
  const rt = realtime(pgids);
  // Each case's note says the priority it ran at (the guard may drop real-time midway).
  const priority = (): string => {
    if (typeof rt === 'string') return `normal priority: real-time ${rt}`;
    const dropped = rt.dropped();
    return dropped ? `real-time dropped (${dropped})` : 'SCHED_FIFO (servers, load)';
  };
  ctx.log(`  latency: ${priority()}`);
  try {
    await cases(ctx, field, measureMs, `${SCENARIO} (real-time)`, priority);
  } finally {
    const dropped = typeof rt === 'string' ? null : rt.stop();
    if (dropped) ctx.log(`  latency: real-time dropped during the cases: ${dropped}`);
  }
}

async function cases(
  ctx: Context,
  field: Awaited<ReturnType<typeof sharedTargets>>,
  measureMs: number,
  scenario: string,
  priority: () => string,
): Promise<void> {
  for (const { rate, n, kase } of LATENCY_CASES) {
    await compare(
      ctx,
      scenario,
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
        note: `p50, p99.9 and max in the absolute table; ${priority()}`,
      },
      { value: (r) => r.latency?.p99 ?? Number.NaN },
    );
  }
}
