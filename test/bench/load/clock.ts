/**
 * Microseconds since `origin` on the machine's monotonic clock (process.hrtime, the clock every
 * thread and process reads alike), so a time stamped on the pacer thread means the same on the
 * receivers' thread. Read through performance.now(), which runs on the same clock, to avoid a
 * BigInt per call.
 */
export function clockSince(origin: bigint): () => number {
  const offset = Number(process.hrtime.bigint() - origin) / 1000 - performance.now() * 1000;
  return () => performance.now() * 1000 + offset;
}
