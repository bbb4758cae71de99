import { SlowConsumerError } from '../shared/errors.ts';
import type { Member } from './member.ts';

export interface FlowOptions {
  /** A recipient's unsent bytes above which its group's pausable publishers wait. */
  flowHighWater: number;
  /** A recipient over the high-water mark that takes nothing for this long is cut. */
  stallTimeoutMs: number;
}

/** A recipient counts as drained again once its unsent bytes fall to this share of the high-water mark. */
export const LOW_WATER_SHARE = 0.25;
/**
 * A recipient over the high-water mark that takes nothing for this long stops holding its
 * group's publishers back (it is detached): from then on it meets its hard queue limit like a
 * recipient of sources that cannot wait, until it takes bytes again or the stall timeout cuts it.
 * A reader that reads at any pace takes bytes far more often than this.
 */
export const DETACH_AFTER_MS = 1000;
/** How often watched recipients are checked. */
export const FLOW_CHECK_MS = 50;

/** What a watched member's group does with it. */
export interface FlowGroup {
  /** The member stopped taking bytes: it no longer holds the group's publishers. */
  detach(m: Member): void;
  /** The member took bytes again while over the high-water mark: it holds them again. */
  attach(m: Member): void;
}

interface Watch {
  group: FlowGroup;
  /** When it last took bytes. */
  since: number;
}

/**
 * Flow control shared by every group: the thresholds, and the watch on recipients over the
 * high-water mark. A watched member that takes none of its unsent bytes for DETACH_AFTER_MS stops
 * holding its group back; for the stall timeout, it is cut as a slow consumer. A member that
 * keeps reading, however slowly, holds its group's publishers to its pace and is never cut.
 */
export class FlowControl {
  readonly high: number;
  readonly low: number;
  readonly stallMs: number;
  /** Members over the high-water mark. */
  readonly #watched = new Map<Member, Watch>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Members cut for making no progress, by transport (counted into the slow-consumer metric by the members). */
  stalls = 0;

  constructor(opts: FlowOptions) {
    this.high = opts.flowHighWater;
    this.low = Math.floor(opts.flowHighWater * LOW_WATER_SHARE);
    this.stallMs = opts.stallTimeoutMs;
  }

  get watching(): number {
    return this.#watched.size;
  }

  watch(m: Member, group: FlowGroup): void {
    if (this.#watched.has(m)) return;
    m.progress();
    this.#watched.set(m, { group, since: Date.now() });
    if (!this.#timer) {
      this.#timer = setInterval(this.#check, FLOW_CHECK_MS);
      this.#timer.unref?.();
    }
  }

  unwatch(m: Member): void {
    if (!this.#watched.delete(m) || this.#watched.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }

  #check = (): void => {
    const now = Date.now();
    for (const [m, w] of this.#watched) {
      if (m.progress()) {
        w.since = now;
        if (m.detached) w.group.attach(m);
      } else if (now - w.since >= this.stallMs) {
        this.unwatch(m);
        this.stalls++;
        m.close(new SlowConsumerError(m.pendingBytes, 0, this.stallMs));
      } else if (!m.detached && now - w.since >= DETACH_AFTER_MS) w.group.detach(m);
    }
  };
}
