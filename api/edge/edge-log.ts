import { eventText } from '../../shared/log-line.ts';
import type { LogFormat, LogLevel } from '../../shared/options/sidecar.ts';
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

/**
 * One readable line per event for a terminal, in the sidecar's pretty shape:
 * `[12:00:01.234] INFO: join lobby sse 127.0.0.1:52878`.
 */
export function textLog(level: LogLevel, write: (line: string) => void = console.log): EdgeLog {
  const min = LEVELS[level];
  return (at, msg, fields) => {
    if (LEVELS[at] < min) return;
    const d = new Date();
    const two = (n: number) => String(n).padStart(2, '0');
    const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
    write(`[${time}] ${at.toUpperCase()}: ${eventText({ ...fields, msg })}`);
  };
}

/** The edge's log for a format: auto is text on a terminal, JSON lines otherwise. */
export function edgeLog(
  level: LogLevel,
  format: LogFormat,
  terminal: boolean,
  base: Record<string, unknown> = {},
): EdgeLog {
  const pretty = format === 'pretty' || (format === 'auto' && terminal);
  return pretty ? textLog(level) : jsonLog(level, undefined, base);
}
