/**
 * Real-time scheduling for the latency cases. On a shared 2-core machine a latency tail is mostly
 * time spent waiting for a CPU: the sender's wake-up, the server between its read and its
 * writes, the receivers' wake-up (issue 18 measured each). Running the servers and the load
 * worker (every thread) under SCHED_FIFO takes that wait out, for every target alike, so the
 * rows compare the servers rather than whatever else the machine runs. Needs CAP_SYS_NICE (root
 * in CI); without it the cases run at normal priority and say so.
 *
 * A SCHED_FIFO process that spins holds a core from every normal process, the runner and its
 * watchdog included (seen once: two idle baseline processes at 92% of a core each). So a guard,
 * itself real-time one step higher, samples each process's CPU and puts everything back to
 * normal priority when one uses more than GUARD_MAX_CORE of a core for GUARD_WINDOWS seconds in a
 * row, when the runner is gone, or when the cases end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupPids, hasCommand, workDir } from './procs.ts';

/** SCHED_FIFO priority of the measured processes: the lowest real-time one. */
const FIFO_PRIORITY = 1;
/** A measured process busier than this (share of one core, over one second)... */
const GUARD_MAX_CORE = 0.9;
/** ...this many seconds in a row is spinning: everything goes back to normal priority. */
const GUARD_WINDOWS = 2;

// $1 runner pid, $2 flag file (removed: stop), $3 reason file, $4.. process groups.
const GUARD = `
runner=$1; flag=$2; reason=$3; shift 3; groups="$*"
hz=$(getconf CLK_TCK); max=$(( hz * ${Math.round(GUARD_MAX_CORE * 100)} / 100 ))
declare -A last busy
demote() { for g in $groups; do for p in $(pgrep -g "$g"); do chrt -a -o -p 0 "$p" 2>/dev/null; done; done; }
while kill -0 "$runner" 2>/dev/null && [ -e "$flag" ]; do
  for g in $groups; do for p in $(pgrep -g "$g"); do
    read -r line < "/proc/$p/stat" 2>/dev/null || continue
    set -- \${line##*) }; t=$(( \${12} + \${13} ))
    if [ -n "\${last[$p]}" ] && [ $(( t - last[$p] )) -gt "$max" ]; then busy[$p]=$(( \${busy[$p]:-0} + 1 )); else busy[$p]=0; fi
    last[$p]=$t
    if [ "\${busy[$p]}" -ge ${GUARD_WINDOWS} ]; then
      echo "pid $p ($(cat /proc/$p/comm 2>/dev/null)) over ${GUARD_MAX_CORE} of a core for ${GUARD_WINDOWS} s" > "$reason"
      demote; exit 0
    fi
  done; done
  sleep 1
done
demote`;

export interface Realtime {
  /** Why the guard put everything back to normal priority, or null while real-time holds. */
  dropped(): string | null;
  /** Back to normal priority; returns why it was dropped early, if it was. */
  stop(): string | null;
}

function setPolicy(pgids: number[], on: boolean): boolean {
  const policy = on ? ['-f', '-p', String(FIFO_PRIORITY)] : ['-o', '-p', '0'];
  for (const pgid of pgids) {
    for (const pid of groupPids(pgid)) {
      const r = spawnSync('chrt', ['-a', ...policy, String(pid)], { encoding: 'utf8' });
      // A process that exited meanwhile is no failure; a refusal is.
      if (r.status !== 0 && /not permitted/i.test(r.stderr)) return false;
    }
  }
  return true;
}

/** Puts every thread of every process in these process groups under SCHED_FIFO, guarded.
 * Returns the handle, or why not. */
export function realtime(pgids: number[]): Realtime | string {
  if (!hasCommand('chrt') || !hasCommand('pgrep')) return 'chrt or pgrep not installed';
  const flag = join(workDir(), 'rt-guard');
  const reason = join(workDir(), 'rt-dropped');
  writeFileSync(flag, '');
  rmSync(reason, { force: true });
  const guard = spawn(
    'bash',
    ['-c', GUARD, 'rt-guard', String(process.pid), flag, reason, ...pgids.map(String)],
    { detached: true, stdio: 'ignore' },
  );
  guard.unref();
  const up = spawnSync('chrt', ['-f', '-p', String(FIFO_PRIORITY + 1), String(guard.pid)]);
  if (up.status !== 0 || !setPolicy(pgids, true)) {
    rmSync(flag, { force: true });
    setPolicy(pgids, false);
    return 'not permitted';
  }
  const dropped = () => (existsSync(reason) ? readFileSync(reason, 'utf8').trim() : null);
  return {
    dropped,
    stop() {
      rmSync(flag, { force: true });
      setPolicy(pgids, false);
      return dropped();
    },
  };
}
