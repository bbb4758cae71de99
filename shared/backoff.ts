/** Reconnect delays: exponential, capped, with jitter so a fleet that lost its hub does not return in lock-step. */

/** @default 250 */
export const DEFAULT_BACKOFF_INITIAL_MS = 250;
/** @default 30_000 */
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
/** @default 2 */
export const DEFAULT_BACKOFF_FACTOR = 2;
/** Fraction of each delay that is randomised (0 = none, 1 = anywhere from 0 to the delay). @default 0.5 */
export const DEFAULT_BACKOFF_JITTER = 0.5;

export interface BackoffOptions {
  /** First delay. @default 250 */
  initialMs?: number;
  /** No delay is longer than this. @default 30_000 */
  maxMs?: number;
  /** Each failed attempt multiplies the delay by this. @default 2 */
  factor?: number;
  /** Fraction of each delay that is randomised. @default 0.5 */
  jitter?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#initial = Math.max(0, options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
    this.#max = Math.max(this.#initial, options.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
    this.#factor = Math.max(1, options.factor ?? DEFAULT_BACKOFF_FACTOR);
    this.#jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_BACKOFF_JITTER));
    this.#random = random;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; never above maxMs, never below (1 - jitter) of the step. */
  next(): number {
    const step = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt++;
    return Math.round(step * (1 - this.#jitter * this.#random()));
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves after `ms`, or at once (to false) when `signal` aborts. Never rejects. */
export function wait(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
