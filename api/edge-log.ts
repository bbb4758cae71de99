import type { LogLevel } from '../shared/options/sidecar.ts';
import type { EdgeLog } from './upstream.ts';

const LEVELS: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

/**
 * JSON lines on stdout in the sidecar's (pino's) shape, `{ level, time, msg, ...fields }`, so one
 * log pipeline reads both. Plain console output: every fetch runtime has it.
 */
export function jsonLog(level: LogLevel, write: (line: string) => void = console.log): EdgeLog {
  const min = LEVELS[level];
  return (at, msg, fields) => {
    const n = LEVELS[at];
    if (n < min) return;
    write(JSON.stringify({ level: n, time: Date.now(), ...fields, msg }));
  };
}
