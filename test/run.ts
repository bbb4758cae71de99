/**
 * Runs every test suite (uvu files, the Deno suite, browser files) and ends with one line:
 * `N passed, N failed[, N skipped]`. Each uvu file runs in its own process, so a crash counts
 * as a failure of that file instead of hiding the rest. System components a suite needs
 * (redis-server, chromium, the Redis clients of the RESP suites) are installed with apt-get when missing and possible; otherwise the
 * run fails with one line saying what to install, unless GROUPCAST_TEST_SKIP names the suite.
 *
 * Usage: npm test [-- <path filter>...]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseDenoSummary } from './helpers/deno-summary.ts';

const ROOT = join(import.meta.dirname, '..');
const FILE_TIMEOUT_MS = 5 * 60_000;

interface Requirement {
  /** Name used in GROUPCAST_TEST_SKIP; files needing it are `*.<key>.test.ts`. */
  key: string;
  /** What must be there, in words. */
  what: string;
  /** A shell command that succeeds when it is there. */
  check: string;
  /** Debian packages that bring it. */
  apt: string[];
}

const REQUIREMENTS: Requirement[] = [
  {
    key: 'redis',
    what: 'redis-server',
    check: 'command -v redis-server',
    apt: ['redis-server'],
  },
  { key: 'browser', what: 'chromium', check: 'command -v chromium', apt: ['chromium'] },
  {
    // Redis clients nobody on this project wrote, for the RESP port's suites. python3 on PATH
    // may be a pyenv shim without Debian's modules: Debian's own interpreter is asked.
    key: 'clients',
    what: "redis-cli, Python's redis module and PHP's redis extension",
    check:
      'command -v redis-cli && /usr/bin/python3 -c "import redis" && php -r \'exit(extension_loaded("redis") ? 0 : 1);\'',
    apt: ['redis-tools', 'python3-redis', 'php-cli', 'php-redis'],
  },
];

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

const tally: Tally = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];

function listTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name === 'bench' || name === 'deno' || name === 'helpers' || name === 'fixtures')
        continue;
      out.push(...listTests(path));
    } else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

function has(check: string): boolean {
  return spawnSync('sh', ['-c', check], { stdio: 'ignore' }).status === 0;
}

/** Makes a system component present, or explains in one line why it is not. */
function ensure(req: Requirement, skip: Set<string>): 'ok' | 'skip' | 'missing' {
  if (skip.has(req.key)) return 'skip';
  if (has(req.check)) return 'ok';
  const root = process.getuid?.() === 0;
  const packages = req.apt.join(' ');
  if (root && has('command -v apt-get')) {
    console.log(`installing ${packages} with apt-get (needed by the ${req.key} suites)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    spawnSync('apt-get', ['install', '-y', '-qq', ...req.apt], { stdio: 'ignore', env });
    if (has(req.check)) return 'ok';
  }
  console.log(
    `${req.what} missing: install it (apt-get install ${packages}) or set GROUPCAST_TEST_SKIP=${req.key} to skip the ${req.key} suites`,
  );
  return 'missing';
}

function strip(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

/** The suite running now, in its own process group, so a timeout or Ctrl-C ends all of it. */
let current: ChildProcess | null = null;
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {}
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current) killGroup(current);
    process.exit(130);
  });
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    // Its own group: the processes a suite starts (a Deno suite's sidecars) go with it.
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    current = child;
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      process.stdout.write(d);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      out += `\n[run] timed out after ${FILE_TIMEOUT_MS} ms\n`;
      killGroup(child);
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      current = null;
      resolve({ code: code ?? (signal ? 1 : 0), out: strip(out) });
    });
  });
}

async function runUvuFile(file: string): Promise<void> {
  const rel = relative(ROOT, file);
  console.log(`\n# ${rel}`);
  const { code, out } = await run(process.execPath, ['--import', 'tsx', file], {
    ...process.env,
    FORCE_COLOR: '0',
  });
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? Number.NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? Number.NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    tally.failed++;
    failures.push(`${rel} (crashed, exit ${code})`);
    return;
  }
  const failed = total - passed - skipped;
  tally.passed += passed;
  tally.skipped += skipped;
  tally.failed += failed;
  if (failed > 0) failures.push(`${rel} (${failed} failed)`);
  else if (code !== 0) {
    // Every test passed but the process failed afterwards (an error after the run, a leak).
    tally.failed++;
    failures.push(`${rel} (exit ${code} after its tests)`);
  }
}

async function runDeno(filters: string[]): Promise<void> {
  const dir = join(ROOT, 'test', 'deno');
  if (!existsSync(dir)) return;
  if (filters.length > 0 && !filters.some((f) => 'test/deno'.includes(f) || f.includes('deno')))
    return;
  console.log('\n# test/deno (deno test)');
  const deno = join(ROOT, 'node_modules', '.bin', 'deno');
  const { code, out } = await run(
    deno,
    [
      'test',
      '--allow-net',
      '--allow-env',
      '--allow-run',
      '--allow-read',
      '--allow-write',
      'test/deno',
    ],
    { ...process.env, NO_COLOR: '1' },
  );
  const summary = parseDenoSummary(out);
  if (!summary) {
    tally.failed++;
    failures.push(`test/deno (crashed, exit ${code})`);
    return;
  }
  tally.passed += summary.passed;
  tally.failed += summary.failed;
  tally.skipped += summary.ignored;
  if (summary.failed > 0) failures.push(`test/deno (${summary.failed} failed)`);
  else if (code !== 0) {
    // Every test passed but deno failed the run (`only` used, an error after the tests).
    tally.failed++;
    failures.push(`test/deno (exit ${code} after its tests)`);
  }
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const skip = new Set(
    (process.env.GROUPCAST_TEST_SKIP ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  let files = listTests(join(ROOT, 'test'));
  if (filters.length > 0)
    files = files.filter((f) => filters.some((x) => relative(ROOT, f).includes(x)));
  let missing = false;
  for (const req of REQUIREMENTS) {
    const needing = files.filter((f) => f.endsWith(`.${req.key}.test.ts`));
    if (needing.length === 0) continue;
    const state = ensure(req, skip);
    if (state === 'ok') continue;
    if (state === 'missing') missing = true;
    else
      console.log(
        `skipping ${needing.length} ${req.key} suite file(s) (GROUPCAST_TEST_SKIP=${req.key})`,
      );
    tally.skipped += needing.length;
    files = files.filter((f) => !needing.includes(f));
  }
  if (missing) {
    console.log(`${tally.passed} passed, 1 failed`);
    process.exit(1);
  }
  for (const file of files) await runUvuFile(file);
  await runDeno(filters);
  if (failures.length > 0) console.log(`\nfailed: ${failures.join('; ')}`);
  const skipped = tally.skipped > 0 ? `, ${tally.skipped} skipped` : '';
  console.log(`${tally.passed} passed, ${tally.failed} failed${skipped}`);
  process.exit(tally.failed > 0 ? 1 : 0);
}

await main();
