/**
 * 9. The Deno edge worker: POST -> SSE straight to a sidecar vs through the edge (POST and SSE
 * both on the edge), alternated round by round in the same run; then the edge's memory per idle
 * SSE subscriber and its idle RSS beside the sidecar's, each on a fresh server.
 */
import { type Context, compare, sharedTargets } from '../context.ts';
import { postSseJob } from '../jobs.ts';
import { rssBytes, sleep } from '../procs.ts';
import { edge, type RunningEdge } from '../targets/edge.ts';
import { groupcast } from '../targets/groupcast.ts';
import type { Running } from '../targets/types.ts';

const POSTERS = 16;
/**
 * A second shape, not a goal: with 16 posters each waiting for its answer the rate follows the
 * round trip, which the edge doubles (client -> edge, then edge -> sidecar); with more posters
 * at once the edge sends larger batches and the rate follows CPU instead.
 */
const MANY_POSTERS = 64;
const GROUPS = 100;
export const EDGE = 'Edge POST -> SSE';
export const EDGE_MEMORY = 'Edge memory per idle SSE subscriber';
export const EDGE_IDLE = 'Edge idle RSS';

export async function edgeScenario(ctx: Context): Promise<void> {
  const field = await sharedTargets(ctx, [groupcast, edge]);
  const row = { unit: 'msg/s', better: 'higher', checkLoss: true } as const;
  for (const n of [10, 100]) {
    await compare(
      ctx,
      EDGE,
      `1:${n}`,
      field.each((t) => postSseJob(ctx, t, { groups: 1, publishers: POSTERS, receivers: n })),
      row,
    );
  }
  for (const n of [10, 100]) {
    await compare(
      ctx,
      EDGE,
      `1:${n}, ${MANY_POSTERS} posters`,
      field.each((t) => postSseJob(ctx, t, { groups: 1, publishers: MANY_POSTERS, receivers: n })),
      row,
    );
  }
  await logBatching(ctx, field.targets[1]);
  await memory(ctx);
}

/** How many POSTs went to the sidecar per publish request, from the edge's own metrics. */
async function logBatching(ctx: Context, t: Running | string): Promise<void> {
  if (typeof t === 'string' || !t.http) return;
  try {
    const text = await (await fetch(`http://127.0.0.1:${t.http.addr.port}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    const posts = read('groupcast_edge_published_total');
    const requests = read('groupcast_edge_publish_requests_total');
    ctx.log(
      `  edge: ${posts} POSTs in ${requests} requests to the sidecar (${(posts / requests).toFixed(1)} per request)`,
    );
  } catch {}
}

/** The process whose memory a subscriber costs: the edge itself, or the sidecar served direct. */
function servingPid(t: Running): number {
  return ((t as RunningEdge).edgeProc ?? t.procs[0]).pid;
}

async function memory(ctx: Context): Promise<void> {
  const n = ctx.settings.memoryMembers;
  const per = Math.max(1, Math.floor(n / GROUPS));
  const kase = `${per * GROUPS} members`;
  for (let round = 0; round < ctx.settings.memoryRounds; round++) {
    for (const spec of [groupcast, edge]) {
      const t = await ctx.fresh(spec);
      if (typeof t === 'string') {
        ctx.results.skip(EDGE_MEMORY, kase, spec.name, 'bytes', t);
        continue;
      }
      try {
        const job = postSseJob(ctx, t, { groups: GROUPS, publishers: 1, receivers: per });
        if (typeof job === 'string') {
          ctx.results.skip(EDGE_MEMORY, kase, spec.name, 'bytes', job);
          continue;
        }
        const pid = servingPid(t);
        await sleep(300);
        const before = rssBytes(pid);
        let held = before;
        let connections = 0;
        const r = await ctx.worker.run(
          { ...job, hold: true },
          {
            onHeld: async (c) => {
              connections = c;
              await sleep(1000);
              held = rssBytes(pid);
            },
          },
        );
        const opts = { unit: 'bytes', better: 'lower', checkLoss: false } as const;
        ctx.results.row(EDGE_MEMORY, kase, spec.name, opts).samples.push({
          ok: r.ok,
          error: r.error,
          value: r.ok ? (held - before) / (per * GROUPS) : Number.NaN,
          extra: { rssIdle: before, rssHeld: held, connections },
        });
        ctx.results
          .row(EDGE_IDLE, 'no subscribers', spec.name, opts)
          .samples.push({ ok: true, value: before });
      } finally {
        await t.stop();
      }
    }
  }
  const kib = (scenario: string, k: string, name: string) =>
    `${name} ${(ctx.results.value(scenario, k, name) / 1024).toFixed(1)} KiB`;
  ctx.log(
    `  ${EDGE_MEMORY} (${kase}): ${kib(EDGE_MEMORY, kase, 'groupcast')}, ${kib(EDGE_MEMORY, kase, 'edge')}`,
  );
  ctx.log(
    `  ${EDGE_IDLE}: sidecar ${(ctx.results.value(EDGE_IDLE, 'no subscribers', 'groupcast') / 1048576).toFixed(1)} MiB, edge ${(ctx.results.value(EDGE_IDLE, 'no subscribers', 'edge') / 1048576).toFixed(1)} MiB`,
  );
}
