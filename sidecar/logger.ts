import { pino } from 'pino';
import type { LogLevel } from '../shared/options/sidecar.ts';

export type Logger = pino.Logger;

/** Logs held in memory while stdout is slow; past this, lines are dropped rather than queued. */
export const DEFAULT_LOG_BUFFER_BYTES = 8 * 1024 * 1024;

/** Structured JSON lines on stdout; level names instead of numbers so a human can grep them. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: false, maxLength: DEFAULT_LOG_BUFFER_BYTES }),
  );
}
