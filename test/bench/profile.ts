/**
 * Summarises V8 .cpuprofile files: busy (non-idle) self time by area and per function, top first.
 * Run alone: node --import tsx test/bench/profile.ts <file.cpuprofile>...
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './procs.ts';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export interface Hot {
  fn: string;
  selfMs: number;
  pct: number;
}

/** Where a function lives, for a coarse breakdown of busy time. */
function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'garbage collector';
  if (!url) return 'native (syscalls, builtins)';
  if (url.includes('undici')) return 'undici (WHATWG Request/Response)';
  if (url.includes('webstreams')) return 'web streams';
  if (url.includes('@hono/node-server')) return '@hono/node-server';
  if (url.includes('node_modules/hono')) return 'hono';
  if (url.includes('node_modules/')) return 'other packages';
  if (url.includes('/api/')) return 'groupcast api/';
  if (url.includes('/shared/') || url.includes('/sidecar/')) return 'groupcast shared/ + sidecar/';
  if (url.includes('esm/') || url.includes('modules/')) return 'module loading';
  return 'node internals';
}

/** Calls `add` with each busy (non-idle) sample's frame and its time in µs; returns the total. */
function walkBusy(
  files: string[],
  add: (frame: Profile['nodes'][number]['callFrame'], us: number) => void,
): number {
  let total = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]);
      if (!n || n.callFrame.functionName === '(idle)') continue;
      const dt = p.timeDeltas[i] ?? 0;
      add(n.callFrame, dt);
      total += dt;
    }
  }
  return total;
}

/** Busy time (idle excluded) by area, largest first. */
export function byArea(files: string[]): Hot[] {
  const sums = new Map<string, number>();
  const total = walkBusy(files, (f, dt) => {
    const key = area(f.url, f.functionName);
    sums.set(key, (sums.get(key) ?? 0) + dt);
  });
  return [...sums.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([fn, us]) => ({ fn, selfMs: us / 1000, pct: (100 * us) / total }));
}

/** Self time per function, as a share of busy (non-idle) time. */
export function topFunctions(files: string[], limit = 20): Hot[] {
  const self = new Map<string, number>();
  const total = walkBusy(files, ({ functionName, url, lineNumber }, dt) => {
    const where = url ? `${relative(ROOT, url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, us]) => ({ fn, selfMs: us / 1000, pct: (100 * us) / total }));
}

export function formatTop(hot: Hot[]): string {
  return hot
    .map((h) => `${h.pct.toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(7)} ms  ${h.fn}`)
    .join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2);
  console.log(formatTop(byArea(files)));
  console.log('');
  console.log(formatTop(topFunctions(files, 30)));
}
