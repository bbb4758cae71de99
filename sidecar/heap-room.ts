import { setFlagsFromString } from 'node:v8';

/** How far V8 lets the old generation grow over its live size before a full collection, in %. */
export const BACKPLANE_HEAP_GROWING_PERCENT = 400;

const FLAG = '--heap-growing-percent';

/**
 * Gives V8's old generation room for the batches a node shares over Redis. Node 20's V8 counts
 * the array buffers allocated since the last full collection against the old generation's limit,
 * which it sets about 24 MB above a sidecar's ~15 MB of live heap. Batches are array buffers, and
 * with the backplane they live across a round trip to Redis: once under load, full collections
 * followed each other every 50 ms with no young collection between them (measured: 20 a second,
 * a third of the publishing node's CPU; a single sidecar had none). With the limit five times the
 * live heap, young collections free the buffers first. The cost is that much more heap at most
 * before a full collection. A --heap-growing-percent given to node is left as it is.
 */
export function makeHeapRoomForBatches(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes(FLAG));
  if (!given) setFlagsFromString(`${FLAG}=${BACKPLANE_HEAP_GROWING_PERCENT}`);
}
