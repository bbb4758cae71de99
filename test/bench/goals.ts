/** The targets of issues 6, 15, 17 and 18, each checked against this run's medians. */
import { median, type Results } from './results.ts';
import { EDGE } from './scenarios/edge.ts';
import { SCENARIO as LATENCY } from './scenarios/latency.ts';
import { SLOW_LIMIT } from './scenarios/slow.ts';

export interface Goal {
  goal: string;
  measured: string;
  status: 'pass' | 'miss' | 'skip' | 'info';
}

const x = (v: number) => `${v.toFixed(2)}x`;

function extraMedian(
  res: Results,
  scenario: string,
  kase: string,
  target: string,
  key: string,
): number {
  const r = res.find(scenario, kase, target);
  if (!r || r.skipped) return Number.NaN;
  return median(r.samples.filter((s) => s.ok).map((s) => Number(s.extra?.[key])));
}

function ratioGoal(
  res: Results,
  label: string,
  scenario: string,
  kase: string,
  target: string,
  base: string,
  min: number,
): Goal {
  const v = res.ratio(scenario, kase, target, base);
  const skipped =
    res.find(scenario, kase, target)?.skipped ?? res.find(scenario, kase, base)?.skipped;
  if (!Number.isFinite(v))
    return {
      goal: `${label} >= ${min}x ${base}`,
      measured: skipped ?? 'not measured',
      status: 'skip',
    };
  return {
    goal: `${label} >= ${min}x ${base}`,
    measured: x(v),
    status: v >= min ? 'pass' : 'miss',
  };
}

function maxGoal(
  label: string,
  v: number,
  max: number,
  show: (v: number) => string,
  why?: string,
): Goal {
  if (!Number.isFinite(v)) return { goal: label, measured: why ?? 'not measured', status: 'skip' };
  return { goal: label, measured: show(v), status: v <= max ? 'pass' : 'miss' };
}

export function goals(res: Results): Goal[] {
  const out: Goal[] = [];
  const F = 'TCP fan-out';
  out.push(ratioGoal(res, 'TCP fan-out 1:1', F, '1:1', 'groupcast', 'redis', 1));
  for (const n of ['1:10', '1:100']) {
    out.push(ratioGoal(res, `TCP fan-out ${n}`, F, n, 'groupcast', 'redis', 2));
    out.push(ratioGoal(res, `TCP fan-out ${n}`, F, n, 'groupcast', 'forwarder', 0.7));
  }
  // The RESP port against redis-server, same driver (issue 15).
  for (const n of ['1:10', '1:100']) {
    out.push(ratioGoal(res, `RESP fan-out ${n}`, F, n, 'groupcast-resp', 'redis', 1.5));
  }
  out.push(
    ratioGoal(
      res,
      'RESP many-to-many 10x10',
      'Many-to-many',
      '10 pub x 10 members',
      'groupcast-resp',
      'redis',
      1.5,
    ),
  );
  out.push(
    ratioGoal(
      res,
      'Many-to-many 10x10',
      'Many-to-many',
      '10 pub x 10 members',
      'groupcast',
      'redis',
      1.5,
    ),
  );
  const sse = ratioGoal(
    res,
    'POST -> SSE 1:100 (zero loss)',
    'POST -> SSE',
    '1:100',
    'groupcast',
    'nchan',
    1,
  );
  const sseRow = res.find('POST -> SSE', '1:100', 'groupcast');
  if (
    sse.status === 'pass' &&
    sseRow?.samples.some((s) => (s.lost ?? 0) !== 0 || (s.orderErrors ?? 0) !== 0)
  )
    sse.status = 'miss';
  out.push(sse);
  out.push(p99Goal(res, 1.5));
  const mem = (scenario: string, label: string, max: number) => {
    const r = res.rows.find((row) => row.scenario === scenario && row.target === 'groupcast');
    const v = r ? res.value(scenario, r.case, 'groupcast') : Number.NaN;
    return maxGoal(
      `${label} <= ${max / 1024} KiB`,
      v,
      max,
      (b) => `${(b / 1024).toFixed(1)} KiB`,
      r?.skipped,
    );
  };
  out.push(mem('Memory per idle TCP member', 'Memory per idle TCP member', 8 * 1024));
  out.push(mem('Memory per idle SSE subscriber', 'Memory per idle SSE subscriber', 32 * 1024));
  out.push(
    ratioGoal(res, 'Cluster 1:10', 'Cluster over Redis', '1:10', 'groupcast x2', 'groupcast', 0.5),
  );
  for (const [n, min] of [
    ['1:10', 0.8],
    ['1:100', 0.7],
  ] as const) {
    out.push(
      ratioGoal(res, `POST -> SSE through the edge ${n}`, EDGE, n, 'edge', 'groupcast', min),
    );
  }
  const S = 'Slow consumer';
  const keep =
    res.value(S, '1:10, one stopped', 'groupcast') / res.value(S, '1:10, all reading', 'groupcast');
  out.push(
    Number.isFinite(keep)
      ? {
          goal: 'Slow consumer: the others keep >= 0.9x',
          measured: x(keep),
          status: keep >= 0.9 ? 'pass' : 'miss',
        }
      : {
          goal: 'Slow consumer: the others keep >= 0.9x',
          measured: 'not measured',
          status: 'skip',
        },
  );
  const slowRow = res.find(S, '1:10, one stopped', 'groupcast');
  const ok = slowRow?.samples.filter((s) => s.ok) ?? [];
  if (ok.length > 0) {
    const cut = ok.every((s) => s.extra?.slowCut === true && s.extra?.cutLogged === true);
    const pending = Math.max(...ok.map((s) => Number(s.extra?.pendingAtCut)));
    out.push({
      goal: `Slow consumer: cut at the limit (${SLOW_LIMIT / 1048576} MiB)`,
      measured: cut
        ? `cut every round, ${(pending / 1048576).toFixed(2)} MiB pending at cut`
        : 'not cut in every round',
      status: cut && pending >= SLOW_LIMIT && pending < SLOW_LIMIT + 2 * 1048576 ? 'pass' : 'miss',
    });
    const growth = Math.max(...ok.map((s) => Number(s.extra?.rssGrowth)));
    out.push({
      goal: 'Slow consumer: sidecar RSS growth < 64 MiB',
      measured: `${(growth / 1048576).toFixed(1)} MiB`,
      status: growth < 64 * 1048576 ? 'pass' : 'miss',
    });
  }
  out.push(...roundTwo(res));
  return out;
}

/** The value of a scenario's groupcast-or-baseline row whatever its case is named (mode-dependent). */
function anyCase(res: Results, scenario: string, target: string): number {
  const r = res.rows.find((row) => row.scenario === scenario && row.target === target);
  return r && !r.skipped ? res.value(scenario, r.case, target) : Number.NaN;
}

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

/** Issue 18 (speed, round two): tighter targets beside issue 6's. */
function roundTwo(res: Results): Goal[] {
  const out: Goal[] = [];
  out.push(
    maxGoal(
      'Idle sidecar RSS <= 60 MB',
      res.value('Start-up', 'idle RSS', 'groupcast'),
      60e6,
      (b) => `${(b / 1e6).toFixed(1)} MB`,
    ),
    maxGoal(
      'Start to listening <= 300 ms',
      res.value('Start-up', 'to listening', 'groupcast'),
      300_000,
      (us) => `${(us / 1000).toFixed(0)} ms`,
    ),
    maxGoal(
      'Idle TCP member <= 5 KiB',
      anyCase(res, 'Memory per idle TCP member', 'groupcast'),
      5 * 1024,
      kib,
    ),
    maxGoal(
      'Idle SSE subscriber <= 11 KiB',
      anyCase(res, 'Memory per idle SSE subscriber', 'groupcast'),
      11 * 1024,
      kib,
    ),
  );
  const sse = anyCase(res, 'Memory per idle SSE subscriber', 'groupcast');
  for (const base of ['node-http', 'nchan']) {
    const v = sse / anyCase(res, 'Memory per idle SSE subscriber', base);
    out.push(maxGoal(`Idle SSE subscriber <= 1.0x ${base}`, v, 1, x));
  }
  const posts = (scenario: string, kase: string, target: string) =>
    extraMedian(res, scenario, kase, target, 'posts');
  // One message per POST: at 1:1 deliveries per second are POSTs per second.
  out.push(
    ratioGoal(res, 'POST -> SSE 1:1 (POST/s)', 'POST -> SSE', '1:1', 'groupcast', 'node-http', 1),
  );
  out.push(ratioGoal(res, 'POST -> SSE 1:10', 'POST -> SSE', '1:10', 'groupcast', 'nchan', 1.5));
  // Where Node itself stands (node-floor.ts: node:net, no checks): a target above the floor's
  // own ratio is out of reach of any hub on this runtime and machine.
  for (const [kase, base] of [
    ['1:1', 'node-http'],
    ['1:10', 'nchan'],
  ]) {
    const floor = res.ratio('POST -> SSE', kase, 'node-floor', base);
    const share = res.ratio('POST -> SSE', kase, 'groupcast', 'node-floor');
    if (Number.isFinite(floor) && Number.isFinite(share))
      out.push({
        goal: `POST -> SSE ${kase}: Node's floor vs ${base}, groupcast vs the floor`,
        measured: `${x(floor)}, ${x(share)}`,
        status: 'info',
      });
  }
  const tcpVsSse =
    posts('POST -> TCP', '1:10', 'groupcast') / posts('POST -> SSE', '1:1', 'groupcast');
  out.push({
    goal: 'POST/s: POST -> TCP 1:10 >= 1.0x POST -> SSE 1:1',
    ...fromRatio(tcpVsSse, 1),
  });
  out.push(
    ratioGoal(res, 'TCP fan-out 1:100', 'TCP fan-out', '1:100', 'groupcast', 'forwarder', 0.9),
    ratioGoal(
      res,
      'Many-to-many 10x10',
      'Many-to-many',
      '10 pub x 10 members',
      'groupcast',
      'forwarder',
      0.9,
    ),
  );
  for (const n of ['1:10', '1:100']) {
    const kase = `${n}, 64 KiB`;
    out.push(
      ratioGoal(res, `TCP fan-out ${kase}`, 'TCP fan-out', kase, 'groupcast', 'redis', 1),
      ratioGoal(res, `TCP fan-out ${kase}`, 'TCP fan-out', kase, 'groupcast', 'forwarder', 0.9),
    );
  }
  out.push(p99Goal(res, 1), p99Goal(res, 1, true));
  return out;
}

/** The measured part of a goal from a ratio computed here. */
function fromRatio(v: number, min: number): Pick<Goal, 'measured' | 'status'> {
  if (!Number.isFinite(v)) return { measured: 'not measured', status: 'skip' };
  return { measured: x(v), status: v >= min ? 'pass' : 'miss' };
}

/**
 * p99 latency at 10k msg/s, 1:10, against a bound in ms; `realtime`: the rows measured under
 * SCHED_FIFO (`--realtime`), not measured otherwise.
 */
function p99Goal(res: Results, maxMs: number, realtime = false): Goal {
  const scenario = realtime ? `${LATENCY} (real-time)` : LATENCY;
  return maxGoal(
    `p99 latency at 10k msg/s, 1:10 <= ${maxMs} ms${realtime ? ' (real-time)' : ''}`,
    res.value(scenario, '10k msg/s, 1:10', 'groupcast'),
    maxMs * 1000,
    (v) => `${(v / 1000).toFixed(2)} ms`,
    realtime ? 'not measured (run with --realtime)' : undefined,
  );
}
