import { setFlagsFromString } from 'node:v8';

/** How far V8 lets the old generation grow over its live size before a full collection, in %. */
export const BACKPLANE_HEAP_GROWING_PERCENT = 400;
/** History held (bytes) above which a sidecar on its own gets the same room. */
export const HEAP_ROOM_HISTORY_BYTES = 32 * 1024 * 1024;
/** How often the history held is looked at. */
export const HEAP_ROOM_CHECK_MS = 1000;

const FLAG = '--heap-growing-percent';

/** Did the user give node a --heap-growing-percent of their own? Then it is never changed. */
function givenByUser(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes(FLAG));
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
  if (!givenByUser()) setFlagsFromString(`${FLAG}=${BACKPLANE_HEAP_GROWING_PERCENT}`);
}

/**
 * The same room for a sidecar on its own while its history holds much: with 128 MiB of history
 * held (eight groups of 64 KiB messages, idle or not), 10 x 10 many-to-many load made V8 start
 * a full collection right after the last one, 32-55 in 5 s against 2 with no history held, and
 * 4-5 with this room (docs/performance.md, Round two part 6). Raised above
 * HEAP_ROOM_HISTORY_BYTES, back to V8's own heuristics below half of it, so an idle or lightly
 * used sidecar keeps V8's defaults. Returns the stop.
 */
export function followHistoryHeld(
  held: () => number,
  everyMs = HEAP_ROOM_CHECK_MS,
  threshold = HEAP_ROOM_HISTORY_BYTES,
): () => void {
  if (givenByUser()) return () => {};
  let raised = false;
  const check = () => {
    const bytes = held();
    if (!raised && bytes > threshold) {
      raised = true;
      setFlagsFromString(`${FLAG}=${BACKPLANE_HEAP_GROWING_PERCENT}`);
    } else if (raised && bytes < threshold / 2) {
      raised = false;
      // 0 is V8's default: its dynamic growing factor.
      setFlagsFromString(`${FLAG}=0`);
    }
  };
  const timer = setInterval(check, everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
