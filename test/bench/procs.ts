/**
 * Every process the benchmark starts goes through here: each runs in its own process group with a
 * raised open-files limit, is listed for a watchdog that kills the groups if this process dies in
 * any way (even SIGKILL), and is killed on exit, Ctrl-C or a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
/** Open files allowed to every started process (10,000 idle members need twice that and more). */
export const NOFILE = 200_000;
const CLK_TCK = 100;
const OUTPUT_KEEP = 256 * 1024;

export interface Proc {
  readonly name: string;
  /** Pid of the process, which is also its process group id. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** What it printed (the last 256 KiB of each stream). */
  stdout(): string;
  stderr(): string;
  /** Calls fn with each stdout/stderr line from now on. */
  onLine(fn: (line: string) => void): void;
  readonly exited: Promise<number | null>;
  /** SIGTERM to the group, SIGKILL after graceMs; idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Map<number, Proc>();
let dir: string | undefined;
let watchdog: ChildProcess | undefined;

/** A temporary directory for this run, removed at exit; starts the watchdog on first use. */
export function workDir(): string {
  if (dir) return dir;
  dir = mkdtempSync(join(tmpdir(), 'groupcast-bench-'));
  writeFileSync(join(dir, 'pgids'), '');
  // Outlives a SIGKILLed runner by at most half a second, then kills every listed group.
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; ' +
    'for g in $(cat "$2/pgids" 2>/dev/null); do kill -9 -- "-$g" 2>/dev/null; done; rm -rf "$2"';
  watchdog = spawn('bash', ['-c', script, 'bench-watchdog', String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return dir;
}

function writePgids(): void {
  if (dir) writeFileSync(join(dir, 'pgids'), [...live.keys()].join('\n'));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {}
}

/** Kills everything started (synchronous: safe in an exit handler). */
export function killAll(): void {
  for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
  live.clear();
  if (watchdog?.pid) killGroup(watchdog.pid, 'SIGKILL');
  watchdog = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every process started\n`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: crashed: ${err.stack ?? err}\n`);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: crashed: ${(err as Error)?.stack ?? err}\n`);
    killAll();
    process.exit(1);
  });
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Opens an IPC channel (for load workers). */
  ipc?: boolean;
  cwd?: string;
}

/** Starts `cmd args` in a new process group with a raised open-files limit. */
export function spawnGroup(
  name: string,
  cmd: string,
  args: string[],
  opts: SpawnOptions = {},
): Proc {
  installHandlers();
  workDir();
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
      cmd,
      ...args,
    ],
    {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      detached: true,
      stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name} (${cmd})`);
  let out = '';
  let err = '';
  const listeners: ((line: string) => void)[] = [];
  const feed = (text: string) => {
    if (listeners.length === 0) return;
    for (const line of text.split('\n')) if (line) for (const fn of listeners) fn(line);
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out = (out + d).slice(-OUTPUT_KEEP);
    feed(d);
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-OUTPUT_KEEP);
    feed(d);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      live.delete(pid);
      writePgids();
      // The group may hold more processes than its leader (nginx workers).
      killGroup(pid, 'SIGKILL');
      resolve(code);
    });
  });
  let stopping: Promise<void> | undefined;
  const proc: Proc = {
    name,
    pid,
    child,
    stdout: () => out,
    stderr: () => err,
    onLine: (fn) => listeners.push(fn),
    exited,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  live.set(pid, proc);
  writePgids();
  return proc;
}

/** Pids of every process in a process group. */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) out.push(Number(name));
    } catch {}
  }
  return out;
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Resident bytes of a process (VmRSS). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds and resident bytes of a whole process group. */
export function groupUsage(pgid: number): { cpu: number; rss: number } {
  let cpu = 0;
  let rss = 0;
  for (const pid of groupPids(pgid)) {
    cpu += cpuSeconds(pid);
    rss += rssBytes(pid);
  }
  return { cpu, rss };
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; bound again at once by the caller's child). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = a && typeof a === 'object' ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once a TCP connect to host:port succeeds; rejects after ms or if `proc` exits. */
export async function waitForPort(port: number, proc: Proc, ms = 20_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + ms;
  let dead = false;
  proc.exited.then(() => {
    dead = true;
  });
  while (Date.now() < deadline && !dead) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(
    `${proc.name} is not listening on ${port}${dead ? ' (it exited)' : ''}:\n${proc.stderr().slice(-2000)}${proc.stdout().slice(-2000)}`,
  );
}

/** True when `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .concat('/usr/sbin', '/usr/bin')
    .some((d) => d && existsSync(join(d, cmd)));
}

/** Resolves with the first output line (already printed or to come) matching re; bounded by ms. */
export function waitForLine(proc: Proc, re: RegExp, ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const seen = `${proc.stdout()}\n${proc.stderr()}`.split('\n').find((l) => re.test(l));
    if (seen) return resolve(seen);
    const timer = setTimeout(
      () => reject(new Error(`${proc.name}: no line matching ${re} after ${ms} ms`)),
      ms,
    );
    proc.onLine((l) => {
      if (re.test(l)) {
        clearTimeout(timer);
        resolve(l);
      }
    });
    proc.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${proc.name} exited: ${proc.stderr().slice(-2000)}`));
    });
  });
}
