import type { History, MemoryLedger } from './history.ts';
import { fullCollection } from './v8-collect.ts';

/** What the budget counts, by kind (the `kind` label of groupcast_memory_bytes). */
export const MEMORY_KINDS = ['history', 'queues', 'partial', 'bodies'] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** How often member queues are sampled and a budget overrun is settled. */
export const BUDGET_SAMPLE_MS = 100;
/** Evicting history stops once use is this far under the budget, so it does not run every turn. */
export const EVICT_TO = 0.9;
/** A batch this large has a buffer of its own, outside the JS heap (smaller ones share pooled slabs). */
const OWN_BUFFER_BYTES = 64 * 1024;
/** Large batches evicted between two collections asked for: at least this much, or a 1/8 of the budget. */
const COLLECT_AFTER_MIN = 8 * 1024 * 1024;

export interface BudgetSources {
  /** Bytes waiting in member queues now (sampled; shared buffers counted once per group). */
  queuedBytes(): number;
  /** Every group's history, for evicting the oldest batches across groups. */
  histories(): Iterable<History>;
}

/**
 * One memory budget for the whole sidecar: replay history with its cached encodings, member
 * queues, partially received frames and request bodies in flight. History and bodies are charged
 * as they change; queues are sampled. Over budget, history gives way first (oldest batches across
 * all groups); if that is not enough, `over` stays true and new work is refused or paused until
 * use falls under the budget again.
 */
export class MemoryBudget implements MemoryLedger {
  readonly limit: number;
  readonly used: Record<MemoryKind, number> = { history: 0, queues: 0, partial: 0, bodies: 0 };
  /** History bytes evicted to stay within the budget (a counter). */
  evictedBytes = 0;
  /** Times new work was refused or paused because the budget was used up (a counter). */
  refusals = 0;
  #sources: BudgetSources | null = null;
  #waiters: (() => void)[] = [];
  #settling = false;
  #over = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Bytes of large batches evicted since the last collection this budget asked for. */
  #uncollected = 0;
  readonly #collectAfter: number;

  constructor(limit: number) {
    this.limit = limit;
    this.#collectAfter = Math.max(COLLECT_AFTER_MIN, Math.floor(limit / 8));
  }

  /** Starts sampling queues and settling overruns against these sources. */
  start(sources: BudgetSources): void {
    this.#sources = sources;
    this.#timer = setInterval(this.settle, BUDGET_SAMPLE_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const fn of waiting) fn();
  }

  get total(): number {
    const u = this.used;
    return u.history + u.queues + u.partial + u.bodies;
  }

  /** True while the budget is used up even after history gave way: refuse or pause new work. */
  get over(): boolean {
    return this.#over;
  }

  charge(kind: MemoryKind, bytes: number): void {
    this.used[kind] += bytes;
    if (bytes > 0 && !this.#settling && this.total > this.limit) {
      // Settled after the current callback, so a burst is settled once, not per message.
      this.#settling = true;
      setImmediate(this.settle);
    }
  }

  /**
   * Takes `bytes` for a request body before it is read; throws `refuse()` when the budget is used
   * up. Returns the release, to call once the body is no longer held.
   */
  reserve(bytes: number, refuse: () => Error): () => void {
    if (this.#over || this.total + bytes > this.limit) {
      this.#settleFor(bytes);
      if (this.#over || this.total + bytes > this.limit) {
        this.refusals++;
        throw refuse();
      }
    }
    this.charge('bodies', bytes);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.charge('bodies', -bytes);
    };
  }

  /** Calls `fn` once use is back under the budget (a paused TCP publisher resumes). */
  whenUnder(fn: () => void): void {
    this.refusals++;
    this.#waiters.push(fn);
  }

  /** Samples the queues; over budget, evicts the oldest history; then releases waiters if under. */
  settle = (): void => {
    this.#settleFor(0);
  };

  /** Settles with room for `extra` more bytes (a body about to be read). */
  #settleFor(extra: number): void {
    this.#settling = false;
    const sources = this.#sources;
    if (!sources) return;
    this.used.queues = sources.queuedBytes();
    if (this.total + extra > this.limit) {
      this.#evict(sources, this.total + extra - this.limit * EVICT_TO);
    }
    this.#over = this.total > this.limit;
    if (!this.#over && this.#waiters.length > 0) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const fn of waiting) fn();
    }
  }

  /** Frees at least `bytes` of history if there is that much, oldest batches first, across groups. */
  #evict(sources: BudgetSources, bytes: number): void {
    let freed = 0;
    // The histories holding anything, as a min-heap on when their oldest batch came: a run
    // evicts from the oldest until it is no longer older than the next one.
    const held: History[] = [];
    for (const h of sources.histories()) if (h.messages > 0) held.push(h);
    for (let i = (held.length >> 1) - 1; i >= 0; i--) siftDown(held, i);
    while (freed < bytes && held.length > 0) {
      const h = held[0];
      const last = held.pop() as History;
      if (held.length > 0) {
        held[0] = last;
        siftDown(held, 0);
      }
      const next = held.length > 0 ? held[0].oldestAt : Number.POSITIVE_INFINITY;
      do {
        const one = h.evictOldest();
        freed += one;
        if (one >= OWN_BUFFER_BYTES) this.#uncollected += one;
      } while (freed < bytes && h.messages > 0 && h.oldestAt <= next);
      if (h.messages > 0) siftUp(held, held.push(h) - 1);
    }
    this.evictedBytes += freed;
    // Evicted history is freed only when the garbage collector runs, and V8 starts on buffers
    // outside its heap only after 64 MiB of them have come since its last run, marking while more
    // arrive: with large messages evicted at the budget's limit, the process held 60-100 MiB of
    // dead buffers at its peak. A full collection after each 1/8 of the budget evicted in large
    // batches frees them at once. Only for large batches: those are a few objects, so the pause is
    // a few ms (measured: 400 POSTs of 1 MiB with a 128 MiB budget, peak RSS +171 MiB instead of
    // +209); small messages live in the JS heap, which V8 already collects as it grows.
    if (this.#uncollected >= this.#collectAfter) {
      this.#uncollected = 0;
      setImmediate(fullCollection);
    }
  }
}

/** Restores the min-heap on oldestAt below `i`. */
function siftDown(heap: History[], i: number): void {
  const n = heap.length;
  const item = heap[i];
  const at = item.oldestAt;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1].oldestAt < heap[child].oldestAt) child++;
    if (heap[child].oldestAt >= at) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = item;
}

/** Restores the min-heap on oldestAt above `i`. */
function siftUp(heap: History[], i: number): void {
  const item = heap[i];
  const at = item.oldestAt;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].oldestAt <= at) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = item;
}
