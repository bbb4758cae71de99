/**
 * A token bucket: `rate` tokens a second up to `burst`. `take(n)` spends n tokens if any are
 * left and may go into debt, so one large read is never split, but the next waits for the debt
 * to be repaid. Time is passed in, so it is cheap on the hot path and testable.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst: number, now: number) {
    this.#rate = rate / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  take(n: number, now: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate);
    this.#at = now;
    if (this.#tokens <= 0) return false;
    this.#tokens -= n;
    return true;
  }
}
