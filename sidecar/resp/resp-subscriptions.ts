import type { Grants } from '../../api/auth.ts';
import { GroupcastError, LimitError, toGroupcastError } from '../../shared/errors.ts';
import { globMatch } from '../../shared/glob.ts';
import { validateGroupId } from '../../shared/group-id.ts';
import type { Group } from '../group.ts';
import type { HubPort } from '../hub-port.ts';
import type { PatternEntry } from '../pattern-registry.ts';
import type { PresenceListener } from '../presence.ts';
import { bulk, error, type Proto, pushHeader, subscription } from './resp-encode.ts';
import { type RespLink, RespMember } from './resp-member.ts';

/**
 * Channels named `__presence__:<group>` carry a group's join and leave events as JSON (the same
 * as SSE's `?presence=true`), Redis's keyspace-notification style; nothing is published to them.
 */
export const PRESENCE_PREFIX = '__presence__:';

/** The group whose presence a channel carries, or null for an ordinary channel. */
function presenceOf(channel: string): string | null {
  return channel.startsWith(PRESENCE_PREFIX) ? channel.slice(PRESENCE_PREFIX.length) : null;
}

const NOPERM =
  'NOPERM this user has no permissions to access one of the channels used as arguments';

/** An error reply from a groupcast error: its code is the Redis error prefix. */
export function codeError(err: GroupcastError): Buffer {
  return error(`${err.code} ${err.message}`);
}

/** What the subscriptions need of their connection. */
export interface SubscriptionsHost extends RespLink {
  readonly proto: Proto;
  /** What the client may do (only asked once it is authenticated). */
  readonly grants: Grants;
  readonly closed: boolean;
  write(bytes: Buffer): void;
}

/**
 * A Redis connection's channels, shard channels, patterns and presence channels, and its member
 * in each group it receives from (one RespMember per group, for every reason it is there).
 */
export class RespSubscriptions {
  readonly #host: SubscriptionsHost;
  readonly #hub: HubPort;
  readonly #max: number;
  /** Subscribed channels, shard channels and patterns, in subscription order. */
  readonly #channels = new Set<string>();
  readonly #shards = new Set<string>();
  readonly #patterns = new Map<string, PatternEntry>();
  /** Its member in each group it receives from. */
  readonly #members = new Map<string, RespMember>();
  /** Presence listeners, by presence channel. */
  readonly #watching = new Map<string, PresenceListener>();

  constructor(host: SubscriptionsHost, hub: HubPort, maxSubscriptions: number) {
    this.#host = host;
    this.#hub = hub;
    this.#max = maxSubscriptions;
  }

  /** Channels and patterns (what (P)SUBSCRIBE replies count). */
  get count(): number {
    return this.#channels.size + this.#patterns.size;
  }

  /** True with any subscription (RESP2's subscribed mode). */
  get any(): boolean {
    return this.count + this.#shards.size > 0;
  }

  /** The member left its group (the group dropped it, or the connection closed). */
  forget(member: RespMember): void {
    if (this.#members.get(member.groupName) === member) this.#members.delete(member.groupName);
  }

  /** The socket drained: the groups it held back may go on. */
  drained(): void {
    for (const m of this.#members.values()) if (m.over) m.group?.fall(m);
  }

  /** Presence events of `group` become `message` pushes on `channel`. */
  #watch(group: string, channel: string): void {
    const listener: PresenceListener = (_event, json) => {
      const push = Buffer.concat([
        pushHeader(3, this.#host.proto),
        bulk('message'),
        bulk(channel),
        bulk(json),
      ]);
      this.#host.send(push, 1, false);
    };
    this.#watching.set(channel, listener);
    this.#hub.presence.on(group, listener);
  }

  #unwatch(channel: string): void {
    const listener = this.#watching.get(channel);
    if (!listener) return;
    this.#watching.delete(channel);
    this.#hub.presence.off(presenceOf(channel) as string, listener);
  }

  /** Leaves every group and pattern (closing, RESET); `reason` is told to each group. */
  leaveAll(reason = 'closed'): void {
    for (const channel of [...this.#watching.keys()]) this.#unwatch(channel);
    for (const entry of this.#patterns.values()) this.#hub.patterns.delete(entry);
    this.#patterns.clear();
    this.#channels.clear();
    this.#shards.clear();
    for (const m of [...this.#members.values()]) {
      m.direct = false;
      m.shard = false;
      m.patterns.clear();
      if (m.group) this.#hub.leave(m.group, m, reason);
    }
    this.#members.clear();
  }

  /** Channel names as group ids; writes the error and returns null when one is not. */
  channelNames(args: Buffer[], action: 'subscribe' | 'publish'): string[] | null {
    const names: string[] = [];
    try {
      for (const a of args) {
        const name = validateGroupId(a.toString('utf8'));
        const watched = presenceOf(name);
        if (watched !== null) {
          validateGroupId(watched);
          if (action === 'publish') {
            throw new GroupcastError(
              'FORBIDDEN',
              `${PRESENCE_PREFIX}<group> channels carry presence events; nothing is published to them`,
            );
          }
        }
        names.push(name);
      }
    } catch (err) {
      this.#host.write(codeError(toGroupcastError(err)));
      return null;
    }
    const grants = this.#host.grants;
    if (names.some((n) => !grants[action](presenceOf(n) ?? n))) {
      this.#hub.reject('FORBIDDEN');
      this.#host.write(error(NOPERM));
      return null;
    }
    return names;
  }

  #roomFor(n: number): boolean {
    const held = this.count + this.#shards.size;
    if (held + n <= this.#max) return true;
    this.#hub.reject('TOO_MANY_SUBSCRIPTIONS');
    this.#host.write(codeError(new LimitError('TOO_MANY_SUBSCRIPTIONS', this.#max)));
    return false;
  }

  /** Its member in a group, joining the group (created if needed) when it has none there yet. */
  #memberIn(name: string, reason: (m: RespMember) => void): void {
    const had = this.#members.get(name);
    if (had?.group) {
      reason(had);
      had.recount();
      if (!had.follower) return;
      if (had.direct || had.shard) had.group.markFollower(had, false);
      return;
    }
    const m = new RespMember(this.#host, name);
    reason(m);
    m.follower = !(m.direct || m.shard);
    this.#members.set(name, m);
    try {
      this.#hub.join(name, m);
    } catch (err) {
      this.#members.delete(name);
      throw err;
    }
  }

  /** Drops a reason to be in a group; leaves it once none is left. */
  #drop(name: string, reason: (m: RespMember) => void): void {
    const m = this.#members.get(name);
    if (!m?.group) return;
    reason(m);
    m.recount();
    if (!m.wanted) this.#hub.leave(m.group, m, 'closed');
    else if (!m.direct && !m.shard) m.group.markFollower(m, true);
  }

  subscribe(args: Buffer[], shard: boolean): void {
    const names = this.channelNames(args.slice(1), 'subscribe');
    if (!names) return;
    const set = shard ? this.#shards : this.#channels;
    const fresh = new Set(names.filter((n) => !set.has(n)));
    if (!this.#roomFor(fresh.size)) return;
    const kind = shard ? 'ssubscribe' : 'subscribe';
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const watched = shard ? null : presenceOf(name);
      if (watched !== null && !set.has(name)) {
        this.#watch(watched, name);
        set.add(name);
      } else if (!set.has(name)) {
        try {
          this.#memberIn(name, (m) => {
            if (shard) m.shard = true;
            else m.direct = true;
          });
        } catch (err) {
          this.#host.write(codeError(toGroupcastError(err)));
          continue;
        }
        set.add(name);
      }
      this.#host.write(
        subscription(kind, args[i + 1], shard ? this.#shards.size : this.count, this.#host.proto),
      );
    }
  }

  unsubscribe(args: Buffer[], shard: boolean): void {
    const set = shard ? this.#shards : this.#channels;
    const kind = shard ? 'sunsubscribe' : 'unsubscribe';
    const count = () => (shard ? this.#shards.size : this.count);
    const asked = args.length > 1 ? args.slice(1) : [...set].map((n) => Buffer.from(n));
    if (asked.length === 0) {
      this.#host.write(subscription(kind, null, count(), this.#host.proto));
      return;
    }
    for (const a of asked) {
      const name = a.toString('utf8');
      if (set.delete(name)) {
        this.#unwatch(name);
        this.#drop(name, (m) => {
          if (shard) m.shard = false;
          else m.direct = false;
        });
      }
      this.#host.write(subscription(kind, a, count(), this.#host.proto));
    }
  }

  psubscribe(args: Buffer[]): void {
    // Copies: arguments are views into the read buffer, and patterns are kept.
    const patterns = args.slice(1).map((p) => Buffer.from(p));
    try {
      for (const p of patterns) validateGroupId(p.toString('utf8'));
    } catch (err) {
      this.#host.write(codeError(toGroupcastError(err)));
      return;
    }
    const grants = this.#host.grants;
    if (patterns.some((p) => !grants.subscribe(p.toString('utf8')))) {
      this.#hub.reject('FORBIDDEN');
      this.#host.write(error(NOPERM));
      return;
    }
    const fresh = new Set(
      patterns.map((p) => p.toString('latin1')).filter((k) => !this.#patterns.has(k)),
    );
    if (!this.#roomFor(fresh.size)) return;
    for (const p of patterns) {
      const key = p.toString('latin1');
      if (!this.#patterns.has(key)) {
        const entry: PatternEntry = { pattern: p, follow: (g) => this.#follow(g, p) };
        try {
          this.#hub.patterns.add(entry);
        } catch (err) {
          this.#hub.reject(toGroupcastError(err).code);
          this.#host.write(codeError(toGroupcastError(err)));
          continue;
        }
        this.#patterns.set(key, entry);
        for (const g of [...this.#hub.allGroups()]) {
          if (globMatch(p, Buffer.from(g.name))) this.#follow(g, p);
        }
      }
      this.#host.write(subscription('psubscribe', p, this.count, this.#host.proto));
    }
  }

  /** A group matching one of its patterns: receive it as `pmessage` (if its grants allow). */
  #follow(group: Group, pattern: Buffer): void {
    if (this.#host.closed || !this.#host.grants.subscribe(group.name)) return;
    try {
      this.#memberIn(group.name, (m) => m.patterns.add(pattern));
    } catch (err) {
      // A full group: this pattern misses it, the others go on.
      this.#hub.reject(toGroupcastError(err).code);
    }
  }

  punsubscribe(args: Buffer[]): void {
    const asked =
      args.length > 1
        ? args.slice(1)
        : [...this.#patterns.values()].map((e) => Buffer.from(e.pattern));
    if (asked.length === 0) {
      this.#host.write(subscription('punsubscribe', null, this.count, this.#host.proto));
      return;
    }
    for (const p of asked) {
      const key = p.toString('latin1');
      const entry = this.#patterns.get(key);
      if (entry) {
        this.#patterns.delete(key);
        this.#hub.patterns.delete(entry);
        for (const m of [...this.#members.values()]) {
          if (m.patterns.delete(entry.pattern as Buffer)) this.#drop(m.groupName, () => {});
        }
      }
      this.#host.write(subscription('punsubscribe', p, this.count, this.#host.proto));
    }
  }
}
