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
  const out =
    options.destination ??
    pino.destination({ fd: 1, sync: false, maxLength: DEFAULT_LOG_BUFFER_BYTES });
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (logFormatFor(options.format ?? 'auto', terminal) === 'pretty') {
    return pino(base, prettyStream(out, terminal && !process.env.NO_COLOR));
  }
  return pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, out);
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
  return {
    write: (line: string) => out.write(toText(line)),
    // pino's flush() asks the stream; pass it on so "stopped" is on screen before exit.
    flush: (cb: (err?: Error) => void) => (out.flush ? out.flush(cb) : cb()),
  } as pino.DestinationStream;
}
