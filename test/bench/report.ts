/** Text tables: goals first, then ratios against the baselines, then absolute figures. */
import { fmt } from './context.ts';
import type { Goal } from './goals.ts';
import { median, type Results, type Row, type Sample } from './results.ts';

const BASELINES = ['redis', 'nats', 'nchan', 'node-http', 'node-floor', 'forwarder', 'groupcast'];

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? '').padEnd(w[i])).join(' | ')} |`;
  return [line(head), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.map(line)].join(
    '\n',
  );
}

export function goalTable(goals: Goal[]): string {
  const mark = { pass: 'PASS', miss: 'MISS', skip: 'skip', info: 'info' };
  return table(
    ['target (issue)', 'measured', 'result'],
    goals.map((g) => [g.goal, g.measured, mark[g.status]]),
  );
}

/**
 * Targets measured against the baselines: the sidecar, its RESP port and the edge worker in
 * front of a sidecar, each on a row of its own.
 */
const SUBJECTS = ['groupcast', 'groupcast-resp', 'edge'];
const SUBJECT_NAMES: Record<string, string> = {
  'groupcast-resp': ' (RESP port)',
  edge: ' (through the edge)',
};

/** groupcast against each baseline, per case; > 1 means groupcast is better. */
export function ratioTable(res: Results): string {
  // One row per case and subject ('groupcast x2' stands in for 'groupcast' where it ran).
  const lines: { c: CaseRows; s: string }[] = [];
  for (const c of uniqueCases(res.rows)) {
    for (const subject of SUBJECTS) {
      const s =
        subject === 'groupcast' && c.rows.some((r) => r.target === 'groupcast x2')
          ? 'groupcast x2'
          : subject;
      if (c.rows.some((r) => r.target === s)) lines.push({ c, s });
    }
  }
  const present = BASELINES.filter((b) =>
    lines.some(({ c, s }) => c.rows.some((r) => r.target === b && !r.skipped && s !== b)),
  );
  const rows = lines.map(({ c, s }) => {
    const sr = c.rows.find((r) => r.target === s) as Row;
    const v = res.value(c.scenario, c.kase, s);
    const cells = present.map((b) => {
      if (b === s) return '';
      const bv = res.value(c.scenario, c.kase, b);
      const r = sr.better === 'higher' ? v / bv : bv / v;
      return Number.isFinite(r) ? `${r.toFixed(2)}x` : '';
    });
    const name = SUBJECT_NAMES[s] ?? '';
    return [
      `${c.scenario} ${c.kase}${name}`,
      sr.skipped ? sr.skipped : `${fmt(v, sr.unit)} ${sr.unit === 'msg/s' ? 'msg/s' : ''}`.trim(),
      ...cells,
    ];
  });
  const label = (b: string) => (b === 'groupcast' ? 'vs 1 sidecar' : `vs ${b}`);
  return table(['case', 'groupcast', ...present.map(label)], rows);
}

interface CaseRows {
  scenario: string;
  kase: string;
  rows: Row[];
}

function uniqueCases(rows: Row[]): CaseRows[] {
  const out: CaseRows[] = [];
  for (const r of rows) {
    let c = out.find((x) => x.scenario === r.scenario && x.kase === r.case);
    if (!c) {
      c = { scenario: r.scenario, kase: r.case, rows: [] };
      out.push(c);
    }
    c.rows.push(r);
  }
  return out;
}

const pct = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? '' : `${(v * 100).toFixed(0)}%`;

function extras(r: Row): string {
  const ok = r.samples.filter((s) => s.ok);
  const m = (k: string) => median(ok.map((s) => Number(s.extra?.[k])).filter(Number.isFinite));
  const parts: string[] = [];
  if (r.scenario.startsWith('Latency'))
    parts.push(
      `p50 ${fmt(m('p50'), 'µs')}, p99.9 ${fmt(m('p999'), 'µs')}, max ${fmt(m('max'), 'µs')}, sender late p99 ${fmt(m('sendLateP99'), 'µs')}`,
    );
  if (r.scenario.includes('POST')) parts.push(`${fmt(m('posts'), '')} POST/s`);
  if (r.scenario.startsWith('UDP')) parts.push(`loss ${m('lossPct').toFixed(2)}%`);
  if (r.scenario.startsWith('Memory'))
    parts.push(`RSS idle ${fmt(m('rssIdle'), 'bytes')} -> held ${fmt(m('rssHeld'), 'bytes')}`);
  if (r.case.includes('stopped'))
    parts.push(`RSS +${fmt(m('rssGrowth'), 'bytes')}, cut at ${fmt(m('pendingAtCut'), 'bytes')}`);
  if (r.unit === 'msg/s' && ok.length > 0) parts.push(perDelivery(ok));
  return parts.join('; ');
}

/** A CPU time: under 1 µs in ns, above in µs. */
const cpuTime = (seconds: number) =>
  seconds < 1e-6 ? `${(seconds * 1e9).toFixed(1)} ns` : `${(seconds * 1e6).toFixed(1)} µs`;

/**
 * The per-round spread of the rate, and CPU per delivery (a round's CPU over its rate, median of
 * the rounds): on the shared 2-core machine a round's rate follows the CPU the round was given,
 * so two targets' rates can differ 2x while each spends the same CPU per delivery (issue 18, 6).
 */
function perDelivery(ok: Sample[]): string {
  const vs = ok.map((s) => s.value);
  const per = (k: 'serverCpu' | 'workerCpu') =>
    median(ok.map((s) => (s[k] ?? Number.NaN) / s.value).filter(Number.isFinite));
  const spread = `rounds ${fmt(Math.min(...vs), 'msg/s')}-${fmt(Math.max(...vs), 'msg/s')}`;
  const srv = per('serverCpu');
  const load = per('workerCpu');
  if (!Number.isFinite(srv) || !Number.isFinite(load)) return spread;
  return `${spread}; CPU per delivery: server ${cpuTime(srv)}, load ${cpuTime(load)}`;
}

export function absoluteTable(res: Results): string {
  const rows = res.rows.map((r) => {
    const ok = r.samples.filter((s) => s.ok);
    if (r.skipped) return [r.scenario, r.case, r.target, r.skipped, '', '', '', '', ''];
    const v = res.value(r.scenario, r.case, r.target);
    const lost = ok.reduce((s, x) => s + Math.max(0, x.lost ?? 0), 0);
    const order = ok.reduce((s, x) => s + (x.orderErrors ?? 0), 0);
    const failed = r.samples.length - ok.length;
    const check = r.checkLoss
      ? lost === 0 && order === 0 && failed === 0
        ? 'ok'
        : `LOST ${lost}, order ${order}, failed ${failed}`
      : failed
        ? `failed ${failed}`
        : '-';
    return [
      r.scenario,
      r.case,
      r.target,
      `${fmt(v, r.unit)}${r.unit === 'msg/s' ? '/s' : ''}`,
      `${ok.length}/${r.samples.length}`,
      pct(median(ok.map((s) => s.serverCpu ?? Number.NaN).filter(Number.isFinite))),
      pct(median(ok.map((s) => s.workerCpu ?? Number.NaN).filter(Number.isFinite))),
      check,
      extras(r),
    ];
  });
  return table(
    [
      'scenario',
      'case',
      'target',
      'median',
      'rounds',
      'server CPU',
      'load CPU',
      'loss check',
      'notes',
    ],
    rows,
  );
}

/** Medians only, one row per case and one column per target: the compact absolute table. */
export function pivotTable(res: Results): string {
  const cases = uniqueCases(res.rows);
  const names = [
    'groupcast',
    'groupcast x2',
    'groupcast-resp',
    'edge',
    ...BASELINES.filter((b) => b !== 'groupcast'),
  ].filter((n) => res.rows.some((r) => r.target === n && !r.skipped));
  const rows = cases.map((c) => [
    `${c.scenario} ${c.kase}`,
    ...names.map((n) => {
      const r = c.rows.find((x) => x.target === n);
      if (!r || r.skipped) return '';
      const v = res.value(c.scenario, c.kase, n);
      return `${fmt(v, r.unit)}${r.unit === 'msg/s' ? '/s' : ''}`;
    }),
  ]);
  return table(['case', ...names], rows);
}
