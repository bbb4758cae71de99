/** 1. TCP -> TCP fan-out, one publisher, 1:N. */
import { type Context, compare, sharedTargets } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { forwarder, nats, redis } from '../targets/baselines.ts';
import { groupcast, groupcastResp } from '../targets/groupcast.ts';

export async function fanout(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, groupcastResp, redis, nats, forwarder]);
  const cases: { n: number; payload: number }[] = ctx.settings.fanouts.map((n) => ({
    n,
    payload: 100,
  }));
  for (const payload of ctx.settings.bigPayloads)
    for (const n of [10, 100]) cases.push({ n, payload });
  for (const { n, payload } of cases) {
    const kase =
      payload === 100
        ? `1:${n}`
        : `1:${n}, ${payload >= 1024 ? `${payload / 1024} KiB` : `${payload} B`}`;
    await compare(
      ctx,
      'TCP fan-out',
      kase,
      field.each((t) => tcpJob(ctx, t, { groups: 1, publishers: 1, receivers: n, payload })),
      { unit: 'msg/s', better: 'higher', checkLoss: true },
    );
  }
}
