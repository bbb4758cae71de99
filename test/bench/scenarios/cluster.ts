/**
 * 8. Cluster: two sidecars sharing groups over Redis vs one sidecar, 1:10 fan-out with the
 * publisher on the first sidecar and receivers split across both. Skipped while a message sent
 * on one sidecar does not reach a member of the same group on the other.
 */
import { connect } from 'node:net';
import { type Context, compare } from '../context.ts';
import { tcpJob } from '../jobs.ts';
import { sleep } from '../procs.ts';
import { startRedis } from '../targets/baselines.ts';
import { groupcast, startGroupcast } from '../targets/groupcast.ts';
import type { Endpoint, Running } from '../targets/types.ts';

const SCENARIO = 'Cluster over Redis';
const CASE = '1:10';

/** Does a line sent by a member on `a` reach a member of the same group on `b`? */
async function crosses(a: Endpoint, b: Endpoint): Promise<boolean> {
  const join = 'SOCKETFORWARDER-NEW:bench-cross\n';
  const sa = connect(a);
  const sb = connect(b);
  let got = '';
  sa.on('error', () => {});
  sb.on('error', () => {});
  sb.on('data', (d) => {
    got += d;
  });
  sa.write(join);
  sb.write(join);
  try {
    for (let i = 0; i < 6 && !got.includes('hello'); i++) {
      await sleep(250);
      sa.write(`hello ${i}\n`);
    }
    await sleep(250);
    return got.includes('hello');
  } finally {
    sa.destroy();
    sb.destroy();
  }
}

export async function cluster(ctx: Context): Promise<void> {
  const single = await ctx.target(groupcast);
  const redis = await startRedis('redis (backplane)').catch((e: Error) => e.message);
  if (typeof redis === 'string') {
    ctx.results.skip(SCENARIO, CASE, 'groupcast x2', 'msg/s', `skipped: ${redis}`);
    return;
  }
  const started: Running[] = [redis];
  try {
    const env = { GROUPCAST_REDIS_URL: redis.url };
    const a = await startGroupcast('groupcast A', {
      env: { ...env, GROUPCAST_NODE_ID: 'bench-a' },
      profileDir: ctx.profileDir,
    });
    started.push(a);
    const b = await startGroupcast('groupcast B', {
      env: { ...env, GROUPCAST_NODE_ID: 'bench-b' },
      profileDir: ctx.profileDir,
    });
    started.push(b);
    if (!a.tcp || !b.tcp || !(await crosses(a.tcp.addr, b.tcp.addr))) {
      ctx.results.skip(SCENARIO, CASE, 'groupcast x2', 'msg/s', 'skipped: no Redis backplane yet');
      ctx.log(
        `  ${SCENARIO}: skipped: with GROUPCAST_REDIS_URL set, a message sent on one sidecar did not reach the other`,
      );
      return;
    }
    const pair: Running = {
      name: 'groupcast x2',
      procs: [...a.procs, ...b.procs, ...redis.procs],
      tcp: a.tcp,
      stop: async () => {},
    };
    const bAddr = b.tcp.addr;
    await compare(
      ctx,
      SCENARIO,
      CASE,
      [
        {
          name: 'groupcast',
          target: single,
          job: (t) => tcpJob(ctx, t, { groups: 1, publishers: 1, receivers: 10 }),
        },
        {
          name: 'groupcast x2',
          target: pair,
          job: (t) => {
            const j = tcpJob(ctx, t, { groups: 1, publishers: 1, receivers: 10 });
            if (typeof j === 'string' || j.sub.kind !== 'stream') return j;
            return { ...j, sub: { ...j.sub, addrs: [j.sub.addrs[0], bAddr] } };
          },
        },
      ],
      { unit: 'msg/s', better: 'higher', checkLoss: true },
    );
  } finally {
    for (const t of started.reverse()) await t.stop();
  }
}
