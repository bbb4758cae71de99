/** 4. UDP -> UDP fan-out 1:10 at fixed send rates: delivered/s and loss. */
import { type Context, compare, sharedTargets } from '../context.ts';
import { forwarder } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';

const RECEIVERS = 10;

export async function udp(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, forwarder]);
  for (const rate of ctx.settings.udpRates) {
    await compare(
      ctx,
      'UDP fan-out',
      `1:${RECEIVERS} at ${rate / 1000}k msg/s`,
      field.each((t) =>
        t.udp
          ? {
              groups: 1,
              publishers: 1,
              receivers: RECEIVERS,
              combined: false,
              payload: 100,
              pub: { kind: 'udp', addr: t.udp },
              sub: { kind: 'udp', addrs: [t.udp] },
              pace: { kind: 'rate', perPublisher: rate },
              warmupMs: ctx.settings.warmupMs,
              measureMs: ctx.settings.measureMs,
              drainMs: 1000,
              fullCheck: true,
            }
          : 'no UDP',
      ),
      { unit: 'msg/s', better: 'higher', checkLoss: false, note: 'loss % in the absolute table' },
    );
  }
}
