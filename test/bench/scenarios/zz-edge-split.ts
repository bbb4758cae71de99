import { type Context, compare } from '../context.ts';
import { postSseJob } from '../jobs.ts';
import { edge, type RunningEdge } from '../targets/edge.ts';
import { groupcast } from '../targets/groupcast.ts';
import type { Running } from '../targets/types.ts';

export async function edgeSplit(ctx: Context): Promise<void> {
  const g = await ctx.target(groupcast);
  const e = (await ctx.target(edge)) as RunningEdge;
  const row = { unit: 'msg/s', better: 'higher', checkLoss: true } as const;
  const metrics = async () => {
    const t = await (await fetch(`http://127.0.0.1:${e.http?.addr.port}/metrics`)).text();
    return t
      .split('\n')
      .filter((l) => /^groupcast_edge_publish/.test(l))
      .join(' ');
  };
  for (const n of [100]) {
    const shape = { groups: 1, publishers: 16, receivers: n };
    const job = (t: Running) => postSseJob(ctx, t, shape);
    const pubEdge = (t: Running) => {
      const j = postSseJob(ctx, t, shape);
      if (typeof j === 'string') return j;
      return { ...j, sub: { ...j.sub, addrs: [e.sidecarHttp] } } as typeof j;
    };
    await compare(
      ctx,
      'split',
      `1:${n}`,
      [
        { name: 'direct', target: g, job },
        { name: 'pub-edge', target: e, job: pubEdge },
      ],
      row,
    );
    ctx.log(await metrics());
  }
}
