import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type Started, startProcess } from './process.ts';

const BIN = join(ROOT, 'sidecar', 'bin.js');

/**
 * A sidecar in a process of its own (its memory measured apart from the test's), on free
 * loopback ports, with `env` on top of quiet defaults.
 */
export function startSidecarProcess(
  env: Record<string, string> = {},
  listeners = ['tcp', 'http'],
): Promise<Started> {
  return startProcess(
    process.execPath,
    [BIN, 'serve'],
    {
      GROUPCAST_HOST: '127.0.0.1',
      GROUPCAST_TCP_PORT: '0',
      GROUPCAST_UDP_PORT: 'off',
      GROUPCAST_HTTP_PORT: '0',
      GROUPCAST_RESP_PORT: '0',
      ...env,
    },
    listeners,
  );
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Peak RSS of a process while `work` runs, sampled every `everyMs`. */
export async function peakRss<T>(
  pid: number,
  work: () => Promise<T>,
  everyMs = 50,
): Promise<{ result: T; peak: number }> {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid));
    } catch {
      // the process ended: the work will say why
    }
  }, everyMs);
  try {
    const result = await work();
    peak = Math.max(peak, rssOf(pid));
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

/** One Prometheus series from a sidecar's /metrics (0 when absent). */
export async function metricOf(httpAddress: string, series: string): Promise<number> {
  const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}
