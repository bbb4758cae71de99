/**
 * 5. Latency at fixed loads. Each message carries its intended send time and latency is taken
 * from that, so a stalled sender or server is charged in full (no coordinated omission).
 */
import { type Context, compare, sharedTargets } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { forwarder, nats, redis } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';

export const LATENCY_CASES = [
  { rate: 10_000, n: 10, kase: '10k msg/s, 1:10' },
  { rate: 1_000, n: 100, kase: '1k msg/s, 1:100' },
];

export async function latency(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, redis, nats, forwarder]);
  const measureMs = ctx.settings.latencyMs;
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
        note: 'p50, p99.9 and max in the absolute table',
      },
      { value: (r) => r.latency?.p99 ?? Number.NaN },
    );
  }
}
