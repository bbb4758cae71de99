import { createRequire } from 'node:module';
import { pino } from 'pino';
import { eventText } from '../shared/log-line.ts';
import type { LogFormat, LogLevel } from '../shared/options/sidecar.ts';

export type Logger = pino.Logger;

/** Logs held in memory while stdout is slow; past this, lines are dropped rather than queued. */
export const DEFAULT_LOG_BUFFER_BYTES = 8 * 1024 * 1024;

export interface LoggerOptions {
  /** pretty, json, or auto: pretty when `terminal`. Default auto. */
  format?: LogFormat;
  /** Where lines go; stdout by default. */
  destination?: pino.DestinationStream & { flush?: (cb: (err?: Error) => void) => void };
  /** Whether lines reach a person at a terminal; stdout's isTTY by default. */
  terminal?: boolean;
}

/** The format in force: `auto` is pretty for a terminal, JSON for a pipe or a file. */
export function logFormatFor(format: LogFormat, terminal: boolean): 'pretty' | 'json' {
  if (format === 'auto') return terminal ? 'pretty' : 'json';
  return format;
}

/**
 * JSON lines (level names, not numbers, so a human can grep them) for machines; on a terminal,
 * one readable line per event (time, level, message with its group and member). pino-pretty is
 * loaded only for the pretty form, so the JSON path costs what it always did.
 */
export function createLogger(level: LogLevel, options: LoggerOptions = {}): Logger {
  const terminal = options.terminal ?? process.stdout.isTTY === true;
  let out = options.destination;
  let stdout: SonicBoom | undefined;
  if (!out) {
    stdout = pino.destination({ fd: 1, sync: false, maxLength: DEFAULT_LOG_BUFFER_BYTES });
    out = stdout;
  }
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  const log =
    logFormatFor(options.format ?? 'auto', terminal) === 'pretty'
      ? pino(base, prettyStream(out, terminal && !process.env.NO_COLOR))
      : pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, out);
  if (stdout) ownStdout.set(log, stdout);
  return log;
}

type SonicBoom = ReturnType<typeof pino.destination>;
const ownStdout = new WeakMap<Logger, SonicBoom>();

/** Longest a process waits, on its way out, for its last log lines to reach stdout. */
export const DEFAULT_LOG_END_MS = 2000;

/**
 * Resolves once every line logged so far is written, for a process about to exit. pino's
 * flush() does not wait for a write already in flight, and exiting then lets the exit handler
 * write later lines first: "stopped" could come out before "shutting down".
 */
export function endLogs(log: Logger, ms = DEFAULT_LOG_END_MS): Promise<void> {
  const stdout = ownStdout.get(log);
  if (!stdout) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    stdout.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    stdout.end();
  });
}

const require = createRequire(import.meta.url);

/**
 * Each JSON line pino writes, turned into text in this process (not a worker thread), so the
 * destination's bound and flush-on-exit stay what they are for JSON.
 */
function prettyStream(
  out: NonNullable<LoggerOptions['destination']>,
  colorize: boolean,
): pino.DestinationStream {
  const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty');
  const toText = prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    hideObject: true,
    messageFormat: (record) => eventText(record),
  });
  return { write: (line: string) => out.write(toText(line)) };
}
