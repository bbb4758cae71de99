import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { memoryReducingCollection } from './v8-collect.ts';

/** How often the event loop's use is looked at. */
export const IDLE_TRIM_CHECK_MS = 250;
/** Checks in a row the loop must have been idle for: quiet for half a second. */
export const IDLE_TRIM_QUIET_CHECKS = 2;
/** At most this share of a check's time spent outside the loop's wait counts as idle. */
export const IDLE_TRIM_MAX_UTILIZATION = 0.02;
/** The young generation's size (both halves) above which there is something to give back. */
export const IDLE_TRIM_NEW_SPACE_BYTES = 8 * 1024 * 1024;
/** No trim above this much live heap: the full collection's pause grows with it. */
export const IDLE_TRIM_MAX_HEAP_BYTES = 64 * 1024 * 1024;
/** At most one trim in this long. */
export const IDLE_TRIM_MIN_INTERVAL_MS = 10_000;

export interface IdleTrimLog {
  debug(obj: object, msg: string): void;
}

function newSpaceBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}

/**
 * Gives back the young generation that a burst made V8 grow, once the process has gone quiet.
 *
 * V8 doubles the young generation (up to 2 x 16 MiB in Node 20) whenever enough of what it
 * allocates survives, as it does while thousands of members connect: each member's socket and
 * state survive. It keeps that size, and the pages stay resident, until its memory reducer runs
 * a memory-reducing collection, which it starts 8 s after a full collection, and only if the
 * allocation rate is low then: measured, 10,000 TCP members that joined and went idle held
 * 105 MB of RSS for 10-15 s, then 73 MB. Here, half a second after the event loop went idle
 * (under 2% used), if the young generation is over 8 MiB, the sidecar asks V8 for that same
 * collection (the inspector's HeapProfiler.collectGarbage, in-process: Isolate::
 * LowMemoryNotification), which also shrinks the young generation to its start size. A plain
 * gc() does not shrink it. The pause (two full collections, about 25 ms each at 10,000 members)
 * falls while nothing is happening; none is made over 64 MiB of live heap, nor more than once in
 * 10 s. Under load the young generation grows back within a few young collections.
 */
export function trimWhenIdle(log: IdleTrimLog): () => void {
  /** A collection on its way, or none possible here (no inspector). */
  let busy = false;
  let last = performance.eventLoopUtilization();
  let quiet = 0;
  let lastTrim = Number.NEGATIVE_INFINITY;

  const trim = () => {
    const before = newSpaceBytes();
    const t0 = performance.now();
    busy = true;
    memoryReducingCollection()
      .then(
        (done) => {
          // Without an inspector, nothing more is tried.
          if (!done) return true;
          log.debug(
            {
              newSpaceBefore: before,
              newSpaceAfter: newSpaceBytes(),
              ms: Math.round((performance.now() - t0) * 10) / 10,
            },
            'idle: young generation given back',
          );
          return false;
        },
        // A refused collection is tried again after the interval, like a done one.
        () => false,
      )
      .then((never) => {
        busy = never;
        lastTrim = performance.now();
      });
  };

  const check = () => {
    const now = performance.eventLoopUtilization();
    const used = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    quiet = used <= IDLE_TRIM_MAX_UTILIZATION ? quiet + 1 : 0;
    if (quiet < IDLE_TRIM_QUIET_CHECKS || busy) return;
    if (performance.now() - lastTrim < IDLE_TRIM_MIN_INTERVAL_MS) return;
    if (newSpaceBytes() < IDLE_TRIM_NEW_SPACE_BYTES) return;
    if (getHeapStatistics().used_heap_size > IDLE_TRIM_MAX_HEAP_BYTES) return;
    quiet = 0;
    trim();
  };
  const timer = setInterval(check, IDLE_TRIM_CHECK_MS);
  timer.unref?.();
  return () => clearInterval(timer);
}
