import { LimitError } from '../shared/errors.ts';
import { TokenBucket } from '../shared/token-bucket.ts';

/** Client addresses tracked for rate limiting; the least recently seen is forgotten past this. */
export const RATE_TRACKED_ADDRESSES = 10_000;

/** `1.2.3.4:5678` / `[::1]:5678` -> the IP part. */
export function ipOf(remote: string): string {
  if (remote.startsWith('[')) return remote.slice(1, remote.indexOf(']'));
  const colon = remote.lastIndexOf(':');
  return colon > 0 && remote.indexOf(':') === colon ? remote.slice(0, colon) : remote;
}

/** Open SSE streams per client IP, against maxSsePerIp. */
export class StreamCounter {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts one more stream, or throws TOO_MANY_FROM_ADDRESS; `release` it once it ends. */
  acquire(ip: string): void {
    const n = this.#open.get(ip) ?? 0;
    if (n >= this.#max) throw new LimitError('TOO_MANY_FROM_ADDRESS', this.#max);
    this.#open.set(ip, n + 1);
  }

  /**
   * One stream from `ip` ended: call once per `acquire` (a method, not a release closure per
   * stream: an idle stream should hold as little as it can).
   */
  release(ip: string): void {
    const left = (this.#open.get(ip) ?? 1) - 1;
    if (left === 0) this.#open.delete(ip);
    else this.#open.set(ip, left);
  }
}

/** A token bucket per client IP, for HTTP publishing. */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst > 0 ? burst : rate * 2;
  }

  take(ip: string, n: number, now = Date.now()): boolean {
    let b = this.#buckets.get(ip);
    if (b) this.#buckets.delete(ip);
    else {
      if (this.#buckets.size >= RATE_TRACKED_ADDRESSES) {
        this.#buckets.delete(this.#buckets.keys().next().value as string);
      }
      b = new TokenBucket(this.#rate, this.#burst, now);
    }
    this.#buckets.set(ip, b);
    return b.take(n, now);
  }
}
