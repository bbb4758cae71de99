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

/** Told when a distinct pattern comes to be held, and when its last holder lets it go. */
export interface PatternWatcher {
  watchPattern(pattern: string): void;
  unwatchPattern(pattern: string): void;
}

/**
 * The hub's pattern subscriptions (RESP PSUBSCRIBE). Groups are created on demand, so a pattern
 * must also reach groups created after it: the hub tells the registry about every new group, and
 * each matching entry follows it. Bounded (respMaxPatterns): every new group costs one match per
 * entry, and a pattern follower does not keep a group alive.
 */
export class PatternRegistry {
  readonly #entries = new Set<PatternEntry>();
  /** Holders of each distinct pattern (by its bytes as latin1). */
  readonly #held = new Map<string, number>();
  readonly #limit: number;
  /** The backplane, which follows held patterns on other nodes too. */
  watcher: PatternWatcher | null = null;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Throws TOO_MANY_PATTERNS when the registry is full. */
  add(entry: PatternEntry): void {
    if (this.#entries.size >= this.#limit) throw new LimitError('TOO_MANY_PATTERNS', this.#limit);
    if (this.#entries.has(entry)) return;
    this.#entries.add(entry);
    const key = latin1(entry.pattern);
    const n = this.#held.get(key) ?? 0;
    this.#held.set(key, n + 1);
    if (n === 0) this.watcher?.watchPattern(Buffer.from(entry.pattern).toString('utf8'));
  }

  delete(entry: PatternEntry): void {
    if (!this.#entries.delete(entry)) return;
    const key = latin1(entry.pattern);
    const n = (this.#held.get(key) ?? 1) - 1;
    if (n > 0) {
      this.#held.set(key, n);
      return;
    }
    this.#held.delete(key);
    this.watcher?.unwatchPattern(Buffer.from(entry.pattern).toString('utf8'));
  }

  /** Distinct patterns held (PUBSUB NUMPAT). */
  distinct(): number {
    return this.#held.size;
  }

  /** Whether some pattern held here matches a group name. */
  matches(name: string): boolean {
    if (this.#entries.size === 0) return false;
    const bytes = utf8.encode(name);
    for (const e of this.#entries) if (globMatch(e.pattern, bytes)) return true;
    return false;
  }

  /** A group was created: every matching entry follows it. */
  created(group: Group): void {
    if (this.#entries.size === 0) return;
    const name = utf8.encode(group.name);
    for (const e of this.#entries) if (globMatch(e.pattern, name)) e.follow(group);
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
