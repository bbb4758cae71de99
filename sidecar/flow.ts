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
 * Flow control shared by every group: the thresholds, and the watch on recipients over the
 * high-water mark. A watched member that makes no progress (its connection takes none of its
 * unsent bytes) for the stall timeout is cut as a slow consumer; the group it held then resumes
 * its publishers. A member that keeps reading, however slowly, is never cut by this.
 */
export class FlowControl {
  readonly high: number;
  readonly low: number;
  readonly stallMs: number;
  /** Members over the high-water mark -> when they last made progress. */
  readonly #watched = new Map<Member, number>();
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

  watch(m: Member): void {
    if (this.#watched.has(m)) return;
    m.progress();
    this.#watched.set(m, Date.now());
    if (!this.#timer) {
      // Checked several times per timeout, so a stopped member is cut within about a fifth of it late.
      const every = Math.min(1000, Math.max(20, Math.floor(this.stallMs / 5)));
      this.#timer = setInterval(this.#check, every);
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
    for (const [m, since] of this.#watched) {
      if (m.progress()) this.#watched.set(m, now);
      else if (now - since >= this.stallMs) {
        this.unwatch(m);
        this.stalls++;
        m.close(new SlowConsumerError(m.pendingBytes, 0, this.stallMs));
      }
    }
  };
}
