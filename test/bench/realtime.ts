/**
 * Real-time scheduling for the latency cases. On a shared 2-core machine a latency tail is mostly
 * time spent waiting for a CPU: the sender's wake-up, the server between its read and its
 * writes, the receivers' wake-up (issue 18 measured each). Running the server and the load
 * worker (every thread) under SCHED_FIFO takes that wait out, for every target alike, so the
 * rows compare the servers rather than whatever else the machine runs. Needs CAP_SYS_NICE (root
 * in CI); without it the cases run at normal priority and say so.
 */
import { spawnSync } from 'node:child_process';
import { groupPids, hasCommand } from './procs.ts';

/** SCHED_FIFO priority: the lowest; anything real-time beats every normal process. */
const FIFO_PRIORITY = '1';

/** Puts every thread of every process in these process groups under SCHED_FIFO (on) or back to
 * the normal policy (off). Returns null when done, else why not. */
export function realtime(pgids: number[], on: boolean): string | null {
  if (!hasCommand('chrt')) return 'chrt not installed';
  const policy = on ? ['-f', FIFO_PRIORITY] : ['-o', '0'];
  for (const pgid of pgids) {
    for (const pid of groupPids(pgid)) {
      const r = spawnSync('chrt', ['-a', ...policy.slice(0, 1), '-p', policy[1], String(pid)], {
        encoding: 'utf8',
      });
      // A process that exited meanwhile is no failure; a refusal is.
      if (r.status !== 0 && /not permitted/i.test(r.stderr)) return 'not permitted';
    }
  }
  return null;
}
