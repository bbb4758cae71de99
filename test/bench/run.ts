/**
 * `npm run bench [-- --quick | --full] [--only fanout,latency,burst,edge,...] [--profile]`
 * `npm run bench -- --only fanout --payload 65536` runs the big-message fan-out cases alone.
 * `npm run bench -- --report [bench-results.json]` prints the tables of an earlier run.
 * `--realtime` runs the latency cases a second time under SCHED_FIFO (see realtime.ts; needs root).
 *
 * Starts every target itself on 127.0.0.1, runs each scenario with targets alternating round by
 * round, stops everything it started, prints goals, ratios and absolute figures, and writes
 * bench-results.json. Exits 1 only when a loss-checked case lost or reordered a message, a
 * measurement failed, or a groupcast row (or a whole scenario) gave no figure; never because of a
 * speed figure.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { bundle } from '../../sidecar/bundle.js';
import type { Context } from './context.ts';
import { type Goal, goals } from './goals.ts';
import { killAll, ROOT, workDir } from './procs.ts';
import { byArea, formatTop, topFunctions } from './profile.ts';
import { absoluteTable, goalTable, pivotTable, ratioTable } from './report.ts';
import { Results } from './results.ts';
import { burst } from './scenarios/burst.ts';
import { cluster } from './scenarios/cluster.ts';
import { edgeScenario } from './scenarios/edge.ts';
import { fanout } from './scenarios/fanout.ts';
import { http } from './scenarios/http.ts';
import { latency } from './scenarios/latency.ts';
import { many } from './scenarios/many.ts';
import { memory } from './scenarios/memory.ts';
import { slow } from './scenarios/slow.ts';
import { startup } from './scenarios/startup.ts';
import { udp } from './scenarios/udp.ts';
import { type Mode, SETTINGS } from './settings.ts';
import type { Running, StartOptions, TargetSpec } from './targets/types.ts';
import { LoadWorker } from './worker-client.ts';

const SCENARIOS: [string, (ctx: Context) => Promise<void>][] = [
  ['startup', startup],
  ['fanout', fanout],
  ['many', many],
  ['http', http],
  ['udp', udp],
  ['latency', latency],
  ['slow', slow],
  ['burst', burst],
  ['memory', memory],
  ['cluster', cluster],
  ['edge', edgeScenario],
];

const args = process.argv.slice(2);
const log = (line: string) => process.stdout.write(`${line}\n`);

function printTables(results: Results): Goal[] {
  const goalList = goals(results);
  log('\n## Targets (issues 6, 15, 17, 18), medians of this run\n');
  log(goalTable(goalList));
  log('\n## groupcast vs baselines (same run; > 1x = groupcast better)\n');
  log(ratioTable(results));
  log('\n## Medians by target\n');
  log(pivotTable(results));
  log('\n## Absolute figures (medians; CPU in % of one core over the measured window)\n');
  log(absoluteTable(results));
  return goalList;
}

// `--report <file>` prints the tables of an earlier run's JSON and exits.
const reportAt = args.indexOf('--report');
if (reportAt >= 0) {
  const saved = JSON.parse(
    readFileSync(args[reportAt + 1] ?? join(ROOT, 'bench-results.json'), 'utf8'),
  );
  const old = new Results();
  old.rows.push(...saved.rows);
  log(
    `${saved.mode} run of ${saved.date}, ${saved.wallSeconds.toFixed(0)} s, ${saved.machine.cpu} x${saved.machine.cores}`,
  );
  printTables(old);
  process.exit(0);
}

const mode: Mode = args.includes('--full')
  ? 'full'
  : args.includes('--quick')
    ? 'quick'
    : 'default';
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : null;
const profile = args.includes('--profile');
const realtime = args.includes('--realtime');
const wall0 = performance.now();

const profileDir = profile ? join(workDir(), 'prof') : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
// `--payload <bytes>` runs only the TCP fan-out's big-message cases (1:10, 1:100) at that size.
const payloadAt = args.indexOf('--payload');
const settings =
  payloadAt >= 0
    ? { ...SETTINGS[mode], fanouts: [], bigPayloads: [Number(args[payloadAt + 1])] }
    : SETTINGS[mode];
const results = new Results();
const worker = new LoadWorker();
const shared = new Map<string, Promise<Running | string>>();

async function start(spec: TargetSpec, opts: StartOptions = {}): Promise<Running | string> {
  const why = spec.unavailable();
  if (why) return `skipped: ${why}`;
  try {
    return await spec.start({ profileDir, ...opts });
  } catch (err) {
    log(`  ${spec.name} did not start: ${(err as Error).message.split('\n')[0]}`);
    return `error: did not start`;
  }
}

const ctx: Context = {
  settings,
  worker,
  results,
  profileDir,
  realtime,
  log,
  target(spec) {
    let t = shared.get(spec.name);
    if (!t) {
      t = start(spec);
      shared.set(spec.name, t);
      t.then((r) => typeof r === 'string' && log(`  ${spec.name}: ${r}`));
    }
    return t;
  },
  fresh: start,
};

log(
  `groupcast bench, ${mode} mode: ${settings.rounds} rounds of ${settings.measureMs} ms per case`,
);
// groupcast runs as `npm start` does (sidecar/bin.js): built now, so the bundle is this tree's code.
if (!(await bundle())) log('  no bundle (esbuild missing): groupcast runs from source');
for (const [name, run] of SCENARIOS) {
  if (only && !only.includes(name)) continue;
  const t0 = performance.now();
  log(`== ${name}`);
  const rowsBefore = results.rows.length;
  try {
    await run(ctx);
  } catch (err) {
    results.problems.push(`${name}: the scenario threw: ${(err as Error).stack ?? err}`);
  }
  // A scenario that recorded no groupcast row at all measured nothing that can fail.
  if (!results.rows.slice(rowsBefore).some((r) => r.target.startsWith('groupcast'))) {
    results.problems.push(`${name}: no groupcast row was recorded`);
  }
  log(`   (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

for (const t of shared.values()) {
  const r = await t;
  if (typeof r !== 'string') await r.stop();
}
await worker.stop();

const goalList = printTables(results);

if (profileDir) {
  const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
  const keep = join(ROOT, 'test-artifacts', 'bench-profiles');
  rmSync(keep, { recursive: true, force: true });
  mkdirSync(keep, { recursive: true });
  for (const f of files) copyFileSync(join(profileDir, f), join(keep, f));
  const kept = files.map((f) => join(keep, f));
  log(`\n## groupcast CPU profile (${files.length} file(s) in test-artifacts/bench-profiles)`);
  log('busy self time by area (idle excluded), then the top functions:\n');
  if (kept.length) log(`${formatTop(byArea(kept))}\n\n${formatTop(topFunctions(kept, 25))}`);
}

const wall = (performance.now() - wall0) / 1000;
const model =
  /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
writeFileSync(
  join(ROOT, 'bench-results.json'),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      mode,
      settings,
      machine: { cpu: model, cores: cpus().length, memoryBytes: totalmem(), node: process.version },
      wallSeconds: wall,
      goals: goalList,
      rows: results.rows,
    },
    null,
    2,
  )}\n`,
);
const failures = results.failures();
log(`\nwall time ${wall.toFixed(0)} s; results in bench-results.json`);
if (failures.length) {
  log(`\n${failures.length} failed check(s):\n${failures.map((f) => `  ${f}`).join('\n')}`);
}
killAll();
process.exit(failures.length ? 1 : 0);
