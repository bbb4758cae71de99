import { setFlagsFromString } from 'node:v8';

/** How far V8 lets the old generation grow over its live size before a full collection, in %. */
export const BACKPLANE_HEAP_GROWING_PERCENT = 400;

const FLAG = '--heap-growing-percent';

/** V8 flags that size the young generation: given to node, they are left as they are. */
const YOUNG_FLAGS = ['semi-space-growth-factor', 'max-semi-space-size', 'min-semi-space-size'];

/** Was a V8 flag given on node's command line or in NODE_OPTIONS (`-` or `_` spelling)? */
function given(flag: string): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
    a.replaceAll('_', '-').includes(flag),
  );
}

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
  if (!given(FLAG)) setFlagsFromString(`${FLAG}=${BACKPLANE_HEAP_GROWING_PERCENT}`);
}

/**
 * Keeps V8's young generation at the size start-up left it (two semispaces of 1-2 MB) instead of
 * letting it grow to two of 16 MB. V8 doubles them whenever more bytes survived its young
 * collections than they hold, which a connect storm does (each member's socket and records are
 * young when it joins); the pages then stay resident while the members idle: 2.5-3 KiB of the
 * ~5.6 KiB each idle TCP member cost (docs/performance.md, Round two). Node reads
 * --max-semi-space-size only at start, but the growth factor each time it grows, so a factor of
 * 1 set now holds the size. Fan-out and many-to-many cost no more CPU per delivery with it: what a
 * delivery allocates dies young either way. Not with a backplane, whose batches live across a
 * Redis round trip (makeHeapRoomForBatches), nor when node was given a young-generation flag.
 */
export function holdYoungGeneration(): void {
  if (!YOUNG_FLAGS.some(given)) setFlagsFromString('--semi-space-growth-factor=1');
}
