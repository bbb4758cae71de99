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
 * JSON lines on stdout in the sidecar's shape (sidecar/logger.ts), `{ level: "info", time:
 * "<ISO 8601>", ...base, ...fields, msg }`, so one log pipeline reads both. `base` carries what
 * only the runtime knows (the sidecar's `pid`). Plain console output: every fetch runtime has it.
 */
export function jsonLog(
  level: LogLevel,
  write: (line: string) => void = console.log,
  base: Record<string, unknown> = {},
): EdgeLog {
  const min = LEVELS[level];
  return (at, msg, fields) => {
    if (LEVELS[at] < min) return;
    write(JSON.stringify({ level: at, time: new Date().toISOString(), ...base, ...fields, msg }));
  };
}
