/**
 * Summarises V8 .cpuprofile files: self time per function, top first.
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

export function topFunctions(files: string[], limit = 20): Hot[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]);
      const dt = p.timeDeltas[i] ?? 0;
      if (!n) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const where = url ? `${relative(ROOT, url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    }
  }
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
  console.log(formatTop(topFunctions(process.argv.slice(2))));
}
