import { LimitError } from '../shared/errors.ts';
import { globMatch } from '../shared/glob.ts';
import type { Group } from './group.ts';

/** One pattern subscription: whoever holds it follows every group whose name matches. */
export interface PatternEntry {
  /** The pattern's bytes (Redis glob). */
  readonly pattern: Uint8Array;
  /** A group whose name matches was created: follow it. */
  follow(group: Group): void;
}

const utf8 = new TextEncoder();

/**
 * The hub's pattern subscriptions (RESP PSUBSCRIBE). Groups are created on demand, so a pattern
 * must also reach groups created after it: the hub tells the registry about every new group, and
 * each matching entry follows it. Bounded (respMaxPatterns): every new group costs one match per
 * entry, and a pattern follower does not keep a group alive.
 */
export class PatternRegistry {
  readonly #entries = new Set<PatternEntry>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Throws TOO_MANY_PATTERNS when the registry is full. */
  add(entry: PatternEntry): void {
    if (this.#entries.size >= this.#limit) throw new LimitError('TOO_MANY_PATTERNS', this.#limit);
    this.#entries.add(entry);
  }

  delete(entry: PatternEntry): void {
    this.#entries.delete(entry);
  }

  /** Distinct patterns held (PUBSUB NUMPAT). */
  distinct(): number {
    const seen = new Set<string>();
    for (const e of this.#entries) seen.add(Buffer.from(e.pattern).toString('latin1'));
    return seen.size;
  }

  /** A group was created: every matching entry follows it. */
  created(group: Group): void {
    if (this.#entries.size === 0) return;
    const name = utf8.encode(group.name);
    for (const e of this.#entries) if (globMatch(e.pattern, name)) e.follow(group);
  }
}
