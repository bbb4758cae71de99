/** What every scenario gets: settings, the load worker, shared targets, results, and measure(). */
import type { FlowJob, FlowResult } from './load/job.ts';
import { groupUsage } from './procs.ts';
import type { Results, Row, Sample } from './results.ts';
import type { Settings } from './settings.ts';
import type { Running, StartOptions, TargetSpec } from './targets/types.ts';
import type { LoadWorker } from './worker-client.ts';

export interface Context {
  readonly settings: Settings;
  readonly worker: LoadWorker;
  readonly results: Results;
  /** Where groupcast writes CPU profiles (--profile), else undefined. */
  readonly profileDir?: string;
  /** --realtime: the latency cases run again with servers and load worker under SCHED_FIFO. */
  readonly realtime: boolean;
  log(line: string): void;
  /** A target started once and shared by the scenarios; null (with the reason logged) if skipped. */
  target(spec: TargetSpec): Promise<Running | string>;
  /** Starts a target for one scenario only; the caller stops it. */
  fresh(spec: TargetSpec, opts?: StartOptions): Promise<Running | string>;
}

export function usageOf(t: Running): { cpu: number; rss: number } {
  let cpu = 0;
  let rss = 0;
  for (const p of t.procs) {
    const u = groupUsage(p.pid);
    cpu += u.cpu;
    rss += u.rss;
  }
  return { cpu, rss };
}

export interface MeasureOptions {
  /** The figure of the sample; default: deliveries per second. */
  value?: (r: FlowResult) => number;
  /** Sampled every 50 ms during the window (slow-consumer scenario). */
  onTick?: () => void;
}

/** Runs one job against a target and turns it into a sample with both processes' CPU. */
export async function measure(
  ctx: Context,
  t: Running,
  job: FlowJob,
  opts: MeasureOptions = {},
): Promise<Sample> {
  let c0 = 0;
  let c1 = 0;
  let w0 = 0;
  let w1 = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let r: FlowResult;
  try {
    r = await ctx.worker.run(
      { ...job },
      {
        onMark: (at) => {
          if (at === 'start') {
            c0 = usageOf(t).cpu;
            w0 = performance.now();
            if (opts.onTick) ticker = setInterval(opts.onTick, 50);
          } else {
            c1 = usageOf(t).cpu;
            w1 = performance.now();
            clearInterval(ticker);
          }
        },
      },
    );
  } finally {
    clearInterval(ticker);
  }
  const secs = (w1 - w0) / 1000;
  const lost = r.expected - r.received;
  const value = opts.value ? opts.value(r) : r.delivered / r.seconds;
  return {
    ok: r.ok,
    error: r.error,
    value: r.ok ? value : Number.NaN,
    serverCpu: secs > 0 ? (c1 - c0) / secs : undefined,
    workerCpu: r.seconds > 0 ? r.workerCpu / r.seconds : undefined,
    lost,
    orderErrors: r.orderErrors + r.httpErrors,
    extra: {
      published: r.published / (r.seconds || 1),
      posts: r.posts / (r.seconds || 1),
      minReceiver: r.minReceiverRate,
      lossPct: r.expected > 0 ? (100 * lost) / r.expected : 0,
      ...(r.latency
        ? { p50: r.latency.p50, p99: r.latency.p99, p999: r.latency.p999, max: r.latency.max }
        : {}),
      ...(r.loopDelayMaxMs !== undefined ? { loadStallMs: r.loopDelayMaxMs } : {}),
      ...(r.sendLate
        ? {
            sendLateP50: r.sendLate.p50,
            sendLateP99: r.sendLate.p99,
            sendLateMax: r.sendLate.max,
          }
        : {}),
      ...(r.slowCut !== undefined ? { slowCut: r.slowCut } : {}),
    },
  };
}

export interface Contender {
  target: Running | string;
  name: string;
  /** A job for this target, or why the case does not apply to it. */
  job: (t: Running) => FlowJob | string;
}

/** Each spec's shared target (started once per run), and contenders that all run one job. */
export async function sharedTargets(ctx: Context, specs: TargetSpec[]) {
  const targets = await Promise.all(specs.map((s) => ctx.target(s)));
  return {
    targets,
    each: (job: Contender['job']): Contender[] =>
      specs.map((s, i) => ({ name: s.name, target: targets[i], job })),
  };
}

/**
 * Measures one case on every contender, alternating round by round (A B C, A B C, ...), so
 * drift and noise from the machine fall on all of them alike.
 */
export async function compare(
  ctx: Context,
  scenario: string,
  kase: string,
  contenders: Contender[],
  row: Pick<Row, 'unit' | 'better' | 'checkLoss'> & { note?: string },
  opts: MeasureOptions = {},
): Promise<void> {
  const live: { c: Contender; t: Running; job: FlowJob; row: Row }[] = [];
  for (const c of contenders) {
    if (typeof c.target === 'string') {
      ctx.results.skip(scenario, kase, c.name, row.unit, c.target);
      continue;
    }
    const job = c.job(c.target);
    if (typeof job === 'string') {
      ctx.results.skip(scenario, kase, c.name, row.unit, job);
      continue;
    }
    live.push({ c, t: c.target, job, row: ctx.results.row(scenario, kase, c.name, row) });
  }
  for (let round = 0; round < ctx.settings.rounds; round++) {
    for (const l of live) {
      const s = await measure(ctx, l.t, l.job, opts);
      l.row.samples.push(s);
      if (!s.ok) ctx.log(`  ${scenario} ${kase} ${l.c.name}: ${s.error}`);
    }
  }
  const parts = live.map((l) => {
    const v = ctx.results.value(scenario, kase, l.c.name);
    return `${l.c.name} ${fmt(v, row.unit)}`;
  });
  ctx.log(`  ${scenario} ${kase}: ${parts.join(', ')}`);
}

export function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'µs') return v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(0)} µs`;
  if (unit === 'bytes' && v >= 1024 * 1024) return `${(v / (1024 * 1024)).toFixed(1)} MiB`;
  if (unit === 'bytes') return v >= 1024 ? `${(v / 1024).toFixed(1)} KiB` : `${v.toFixed(0)} B`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(v < 10 ? 2 : 0);
}
