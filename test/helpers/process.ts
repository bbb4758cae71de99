import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Started extends Running {
  /** Listener -> address, from the "listening" log lines. */
  addresses: Record<string, string>;
}

const running = new Set<ChildProcess>();
// Nothing a test starts may outlive the test process.
process.on('exit', () => {
  for (const c of running) {
    try {
      if (c.pid) process.kill(-c.pid, 'SIGKILL');
    } catch {}
  }
});

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends a signal to the process group and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts a long-running command (its own process group, killed if the test process exits). */
export function spawnProcess(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  onOutput?: () => void,
): Running {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
    onOutput?.();
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    }
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { child, stdout: () => out, stderr: () => err, stop, exited };
}

/**
 * Spawns a command and resolves once `ready(stdout)` is true; rejects (and kills it) if it exits
 * first or takes longer than `ms`.
 */
function spawnUntil(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  ready: (out: string) => boolean,
  ms: number,
  what: string,
): Promise<Running> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const p: Running = spawnProcess(cmd, args, env, () => {
      if (settled || !ready(p.stdout())) return;
      settled = true;
      clearTimeout(timer);
      resolve(p);
    });
    const timer = setTimeout(() => {
      settled = true;
      p.stop('SIGKILL');
      reject(new Error(`${cmd}: not ${what} after ${ms} ms:\n${p.stdout()}\n${p.stderr()}`));
    }, ms);
    p.exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const out = p.stdout();
      const err = p.stderr();
      reject(
        Object.assign(new Error(`${cmd} exited with ${code} before ${what}:\n${out}\n${err}`), {
          code,
          out,
          err,
        }),
      );
    });
  });
}

/** The `<transport> listening on <address>` lines a sidecar logged, by transport. */
function listening(out: string): Record<string, string> {
  const addresses: Record<string, string> = {};
  for (const line of out.split('\n')) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg?.includes(' listening on ')) addresses[rec.transport] = rec.address;
    } catch {}
  }
  return addresses;
}

/**
 * Starts a command in its own process group and resolves once it has logged `listeners`
 * listening lines (or rejects if it exits first or takes longer than `ms`).
 */
export async function startProcess(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  listeners: string[],
  ms = 15_000,
): Promise<Started> {
  const ready = (out: string) => {
    const a = listening(out);
    return listeners.every((l) => a[l]);
  };
  const p = await spawnUntil(cmd, args, env, ready, ms, 'listening');
  return { ...p, addresses: listening(p.stdout()) };
}

/**
 * Starts a daemon that is not a sidecar (redis-server) in its own process group and resolves once
 * its output matches `ready`. Stopped like a sidecar, and killed with the test process at the latest.
 */
export function startDaemon(
  cmd: string,
  args: string[],
  ready: RegExp,
  ms = 10_000,
): Promise<Running> {
  return spawnUntil(cmd, args, {}, (out) => ready.test(out), ms, 'ready');
}

/** Runs a command to completion; `input`, when given, is its standard input. */
export function runProcess(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  ms = 20_000,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
