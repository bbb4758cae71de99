import type { RedisSubscriber } from './subscriber.ts';

interface Subscription {
  /** Resolves once Redis confirmed the subscription on the current connection. */
  confirmed: Promise<void> | null;
  /** Set once it was confirmed on the current connection. */
  live: boolean;
}

/** What a set of subscriptions is kept for: names and how Redis is asked for them. */
export interface ChannelKind {
  /** The Redis channel (or pattern) for a name. */
  redisName(name: string): string;
  /** PSUBSCRIBE rather than SUBSCRIBE. */
  pattern: boolean;
}

/** Channels per SUBSCRIBE command when resubscribing after a reconnect. */
const RESUBSCRIBE_CHUNK = 500;

/**
 * The pub/sub connection's subscriptions of one kind: one channel per group that has members on
 * this node, so a node only receives the groups it serves (and likewise a presence channel per
 * group watched here, a pattern per pattern held here). Kept here, not by the connection, so that
 * a reconnect resubscribes exactly what is still wanted, and so a replay can wait until its
 * group's channel is live before reading the shared history.
 */
export class Channels {
  readonly #sub: RedisSubscriber;
  readonly #kind: ChannelKind;
  readonly #subs = new Map<string, Subscription>();
  #ready = false;

  constructor(sub: RedisSubscriber, kind: ChannelKind) {
    this.#sub = sub;
    this.#kind = kind;
  }

  get size(): number {
    return this.#subs.size;
  }

  want(group: string): void {
    if (this.#subs.has(group)) return;
    const s: Subscription = { confirmed: null, live: false };
    this.#subs.set(group, s);
    if (this.#ready) s.confirmed = this.#subscribe([group]);
  }

  unwant(group: string): void {
    if (!this.#subs.delete(group)) return;
    if (!this.#ready) return;
    const names = [this.#kind.redisName(group)];
    const done = this.#kind.pattern ? this.#sub.punsubscribe(names) : this.#sub.unsubscribe(names);
    done.catch(() => {});
  }

  /** Whether Redis confirmed the subscription on the current connection. */
  live(group: string): boolean {
    return this.#subs.get(group)?.live === true;
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
      const confirmed = this.#subscribe(part);
      for (const g of part) (this.#subs.get(g) as Subscription).confirmed = confirmed;
    }
  }

  onClose(): void {
    this.#ready = false;
    for (const s of this.#subs.values()) {
      s.confirmed = null;
      s.live = false;
    }
  }

  #subscribe(names: string[]): Promise<void> {
    const redisNames = names.map((n) => this.#kind.redisName(n));
    const p = this.#kind.pattern
      ? this.#sub.psubscribe(redisNames)
      : this.#sub.subscribe(redisNames);
    p.then(
      () => {
        for (const n of names) {
          const s = this.#subs.get(n);
          if (s && s.confirmed === p) s.live = true;
        }
      },
      // Awaited only by replays; a failure here shows as a dropped connection, handled elsewhere.
      () => {},
    );
    return p;
  }
}
