/** 3. HTTP POST -> SSE (16 keep-alive posters), NDJSON batches, TCP -> SSE, POST -> TCP. */
import { type Context, compare, sharedTargets } from '../context.ts';
import { NO_API, postSseJob } from '../jobs.ts';
import { nchan, nodeFloor, nodeSse } from '../targets/baselines.ts';
import { groupcast } from '../targets/groupcast.ts';
import type { Running } from '../targets/types.ts';

const POSTERS = 16;
const NDJSON_BATCH = 100;

export async function http(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, nchan, nodeSse, nodeFloor]);
  const row = { unit: 'msg/s', better: 'higher', checkLoss: true } as const;
  for (const n of [1, 10, 100]) {
    await compare(
      ctx,
      'POST -> SSE',
      `1:${n}`,
      field.each((t) => postSseJob(ctx, t, { groups: 1, publishers: POSTERS, receivers: n })),
      row,
    );
  }
  await compare(
    ctx,
    'NDJSON POST -> SSE',
    `1:10, ${NDJSON_BATCH}/POST`,
    field.each((t) =>
      postSseJob(ctx, t, { groups: 1, publishers: POSTERS, receivers: 10 }, NDJSON_BATCH),
    ),
    row,
  );
  const gc = field.targets[0];
  const onlyGroupcast = (job: (t: Running) => ReturnType<typeof postSseJob>) => [
    { name: 'groupcast', target: gc, job: (t: Running) => (t.http && t.tcp ? job(t) : NO_API) },
  ];
  await compare(
    ctx,
    'TCP -> SSE',
    '1:100',
    onlyGroupcast((t) => {
      const j = postSseJob(ctx, t, { groups: 1, publishers: 1, receivers: 100 });
      if (typeof j === 'string' || !t.tcp) return j;
      return { ...j, pub: { kind: 'stream', protocol: 'line', addr: t.tcp.addr } };
    }),
    row,
  );
  await compare(
    ctx,
    'POST -> TCP',
    '1:10',
    onlyGroupcast((t) => {
      const j = postSseJob(ctx, t, { groups: 1, publishers: POSTERS, receivers: 10 });
      if (typeof j === 'string' || !t.tcp) return j;
      return {
        ...j,
        fullCheck: false,
        sub: { kind: 'stream', protocol: 'line', addrs: [t.tcp.addr] },
      };
    }),
    row,
  );
}
