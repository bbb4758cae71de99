/**
 * 2. Many-to-many: every member publishes and receives the others' messages. Redis cannot
 * publish on a subscribed connection and echoes to the sender, so it gets 10 publisher and 9
 * subscriber connections per group: 9 recipients per message, as in groupcast. groupcast's RESP
 * port (groupcast-resp) is driven the same way as redis-server.
 */
import { type Context, compare, sharedTargets } from '../context.ts';
import { tcpJob, windowPace } from '../jobs.ts';
import { forwarder, nats, redis } from '../targets/baselines.ts';
import { groupcast, groupcastResp } from '../targets/groupcast.ts';

export async function many(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, groupcastResp, redis, nats, forwarder]);
  for (const groups of [1, 100]) {
    const kase = groups === 1 ? '10 pub x 10 members' : '100 groups x 10 members';
    await compare(
      ctx,
      'Many-to-many',
      kase,
      field.each((t) =>
        tcpJob(ctx, t, {
          groups,
          publishers: 10,
          receivers: t.tcp?.protocol === 'redis' ? 9 : 0,
          pace: windowPace(ctx, groups * 100),
        }),
      ),
      { unit: 'msg/s', better: 'higher', checkLoss: true },
    );
  }
}
