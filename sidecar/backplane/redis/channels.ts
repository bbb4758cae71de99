import type { RedisKeys } from './keys.ts';
import type { RedisSubscriber } from './subscriber.ts';

interface Subscription {
  /** Resolves once Redis confirmed the subscription on the current connection. */
  confirmed: Promise<void> | null;
}

/** Channels per SUBSCRIBE command when resubscribing after a reconnect. */
const RESUBSCRIBE_CHUNK = 500;

/**
 * The pub/sub connection's subscriptions: one channel per group that has members on this node,
 * so a node only receives the groups it serves. Kept here, not by the connection, so that a
 * reconnect resubscribes exactly the groups that still have members, and so a replay can wait
 * until its group's channel is live before reading the shared history.
 */
export class Channels {
  readonly #sub: RedisSubscriber;
  readonly #keys: RedisKeys;
  readonly #subs = new Map<string, Subscription>();
  #ready = false;

  constructor(sub: RedisSubscriber, keys: RedisKeys) {
    this.#sub = sub;
    this.#keys = keys;
  }

  get size(): number {
    return this.#subs.size;
  }

  want(group: string): void {
    if (this.#subs.has(group)) return;
    const s: Subscription = { confirmed: null };
    this.#subs.set(group, s);
    if (this.#ready) s.confirmed = this.#subscribe([this.#keys.channel(group)]);
  }

  unwant(group: string): void {
    if (!this.#subs.delete(group)) return;
    if (this.#ready) this.#sub.unsubscribe([this.#keys.channel(group)]).catch(() => {});
  }

  /** Resolves once the group's channel is live; rejects while the connection is down. */
  confirmed(group: string): Promise<void> {
    return this.#subs.get(group)?.confirmed ?? Promise.reject(new Error('not subscribed'));
  }

  onReady(): void {
    this.#ready = true;
    const names = [...this.#subs.keys()];
    for (let i = 0; i < names.length; i += RESUBSCRIBE_CHUNK) {
      const part = names.slice(i, i + RESUBSCRIBE_CHUNK);
      const confirmed = this.#subscribe(part.map((g) => this.#keys.channel(g)));
      for (const g of part) (this.#subs.get(g) as Subscription).confirmed = confirmed;
    }
  }

  onClose(): void {
    this.#ready = false;
    for (const s of this.#subs.values()) s.confirmed = null;
  }

  #subscribe(channels: string[]): Promise<void> {
    const p = this.#sub.subscribe(channels);
    // Awaited only by replays; a failure here shows as a dropped connection, handled elsewhere.
    p.catch(() => {});
    return p;
  }
}
