/**
 * Microseconds since `origin` on the machine's monotonic clock (process.hrtime), which every
 * thread and process reads alike, so a time stamped on the pacer thread means the same on the
 * receivers' thread. (Mapping performance.now() onto it with one offset was tried: the first
 * call of either clock can take most of a millisecond, and the offset came out that wrong.)
 */
export function clockSince(origin: bigint): () => number {
  return () => Number(process.hrtime.bigint() - origin) / 1000;
}
