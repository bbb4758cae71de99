import type { Redis } from 'ioredis';
import type { GroupCounts, GroupDetail, GroupSummary, MemberInfo } from '../../../shared/hub.ts';
import { formatId } from '../../../shared/message.ts';
import { afterTurn } from '../../../shared/turn.ts';
import type { Group } from '../../group.ts';
import type { Logger } from '../../logger.ts';
import { type Member, memberInfo } from '../../member.ts';
import type { BackplaneHost } from '../types.ts';
import type { RedisKeys } from './keys.ts';
import type { Scripted } from './scripts.ts';

export interface RegistryOptions {
  node: string;
  expiryMs: number;
  keyTtlMs: number;
  historyMessages: number;
  historyBytes: number;
}

/** A live node of the cluster as the last heartbeat saw it (the dashboard's nodes view). */
export interface PeerInfo {
  node: string;
  /** Members it holds, by transport, summed over its groups. */
  members: GroupCounts;
  groups: number;
  /** When it last said it lives, on this node's clock (ISO 8601). */
  lastSeen: string;
}

/**
 * Heartbeats read the peers only this long after someone last asked for them (a health check),
 * so a cluster nobody watches pays nothing for the view.
 */
const PEERS_WANTED_MS = 60_000;

/** Groups per TOUCH script call in a heartbeat. */
const TOUCH_CHUNK = 200;

/**
 * This node's entry in the cluster: a heartbeat (a sorted set scored with the Redis clock, so
 * nodes' clocks need not agree), its member counts per group and its members, all expiring
 * unless refreshed. A node that dies vanishes from listings within nodeExpiry; one that stops
 * cleanly withdraws at once. Member changes are written once per turn, latest state winning, so
 * at most one write is in flight and what waits is bounded by the members this node holds.
 */
export class Registry {
  /** Whether the command connection is ready; set by the backplane. */
  up = false;
  /** Live nodes as of the last heartbeat. */
  liveNodes = 0;
  #peers: PeerInfo[] = [];
  #peersAskedAt = 0;
  readonly #redis: Redis & Scripted;
  readonly #keys: RedisKeys;
  readonly #hub: BackplaneHost;
  readonly #opts: RegistryOptions;
  readonly #log: Logger;
  /** Member id -> its group and info (null: it left), since the last write. */
  #ops = new Map<string, { group: string; info: string | null }>();
  /** Groups whose counts changed since the last write. */
  #dirty = new Set<string>();
  /** Groups whose member hash this node wrote: removed on resync and on close. */
  readonly #written = new Set<string>();
  /** Member id -> pendingBytes last written, so only changes are rewritten. */
  readonly #pending = new Map<string, number>();
  #scheduled = false;
  #writing = false;

  constructor(
    redis: Redis & Scripted,
    keys: RedisKeys,
    hub: BackplaneHost,
    opts: RegistryOptions,
    log: Logger,
  ) {
    this.#redis = redis;
    this.#keys = keys;
    this.#hub = hub;
    this.#opts = opts;
    this.#log = log;
  }

  joined(group: Group, member: Member): void {
    this.#ops.set(member.id, {
      group: group.name,
      info: JSON.stringify(memberInfo(member, this.#opts.node)),
    });
    this.#pending.set(member.id, 0);
    this.#dirty.add(group.name);
    this.#schedule();
  }

  left(group: Group, member: Member): void {
    this.#ops.set(member.id, { group: group.name, info: null });
    this.#pending.delete(member.id);
    this.#dirty.add(group.name);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    afterTurn(this.#write);
  }

  #write = (): void => {
    this.#scheduled = false;
    if (!this.up) {
      // Rewritten in full when the connection is back.
      this.#ops.clear();
      this.#dirty.clear();
      return;
    }
    if (this.#writing || (this.#ops.size === 0 && this.#dirty.size === 0)) return;
    const ops = this.#ops;
    const dirty = this.#dirty;
    this.#ops = new Map();
    this.#dirty = new Set();
    const { node, expiryMs } = this.#opts;
    const p = this.#redis.pipeline();
    const touched = new Set<string>();
    for (const [id, op] of ops) {
      const key = this.#keys.nodeMembers(node, op.group);
      if (op.info) {
        p.hset(key, id, op.info);
        this.#written.add(op.group);
      } else p.hdel(key, id);
      touched.add(key);
    }
    for (const key of touched) p.pexpire(key, expiryMs);
    const counts = this.#keys.nodeGroups(node);
    for (const name of dirty) {
      const g = this.#hub.findGroup(name);
      if (g && g.size > 0) p.hset(counts, name, formatCounts(g.counts));
      else p.hdel(counts, name);
    }
    p.pexpire(counts, expiryMs);
    this.#writing = true;
    p.exec()
      .catch((err: Error) => this.#log.debug({ err: err.message }, 'redis registry write failed'))
      .finally(() => {
        this.#writing = false;
        if (this.#ops.size > 0 || this.#dirty.size > 0) this.#schedule();
      });
  };

  /**
   * After (re)connecting: Redis may have restarted empty, or dropped this node as dead, or hold
   * the entries of an earlier process with this node id (killed, restarted before they expired):
   * its members are gone with it, and this process's heartbeat must not keep them listed.
   */
  async resync(): Promise<void> {
    const { node, expiryMs } = this.#opts;
    const counts = this.#keys.nodeGroups(node);
    // The groups this node id had members in, as Redis last heard (this process or an earlier one).
    const before = await this.#redis.hkeys(counts);
    const p = this.#redis.pipeline();
    p.del(counts);
    for (const g of new Set([...this.#written, ...before])) p.del(this.#keys.nodeMembers(node, g));
    this.#written.clear();
    this.#ops.clear();
    this.#dirty.clear();
    for (const g of this.#hub.allGroups()) {
      if (g.size === 0) continue;
      const key = this.#keys.nodeMembers(node, g.name);
      const fields: string[] = [];
      for (const m of [...g.members, ...g.sse]) {
        fields.push(m.id, JSON.stringify(memberInfo(m, node)));
        this.#pending.set(m.id, m.pendingBytes);
      }
      p.hset(key, ...fields);
      p.pexpire(key, expiryMs);
      p.hset(counts, g.name, formatCounts(g.counts));
      this.#written.add(g.name);
    }
    p.pexpire(counts, expiryMs);
    await p.exec();
    await this.heartbeat();
  }

  /** Tells the cluster this node lives; refreshes its entries and its groups' shared history. */
  async heartbeat(): Promise<void> {
    if (!this.up) return;
    const { node, expiryMs, keyTtlMs } = this.#opts;
    const k = this.#keys;
    const p = this.#redis.pipeline() as ReturnType<Redis['pipeline']> & Scripted;
    p.gcHeartbeat(k.nodes, node, expiryMs);
    p.pexpire(k.nodeGroups(node), expiryMs);
    const live: string[] = [];
    for (const g of this.#hub.allGroups()) {
      if (g.size === 0) continue;
      live.push(g.name);
      const key = k.nodeMembers(node, g.name);
      // pendingBytes of members here, for listings on other nodes: only what changed.
      for (const m of g.members) this.#refreshPending(p, key, m);
      for (const m of g.sse) this.#refreshPending(p, key, m);
    }
    for (const g of this.#written) p.pexpire(k.nodeMembers(node, g), expiryMs);
    for (let i = 0; i < live.length; i += TOUCH_CHUNK) {
      const part = live.slice(i, i + TOUCH_CHUNK);
      const keys = [k.groups];
      for (const g of part) keys.push(k.meta(g), k.index(g), k.blobs(g));
      p.gcTouch(keys.length, ...keys, keyTtlMs, ...part);
    }
    const results = await p.exec();
    const nodes = results?.[0]?.[1];
    if (typeof nodes === 'number') this.liveNodes = nodes;
    if (Date.now() - this.#peersAskedAt < PEERS_WANTED_MS) await this.#readPeers();
  }

  /**
   * Live nodes and what they hold, as of the last heartbeat; asking keeps them read for a while
   * (the first answer after a quiet spell is empty or old by up to that spell).
   */
  get peers(): PeerInfo[] {
    this.#peersAskedAt = Date.now();
    return this.#peers;
  }

  /**
   * Every live node with its member counts and when it last beat. A node's score is when it
   * expires on the Redis clock, so its last beat was expiry before that; the age is turned into
   * this node's clock, since nodes' clocks need not agree with Redis's.
   */
  async #readPeers(): Promise<void> {
    const k = this.#keys;
    const [time, ranked] =
      ((await this.#redis.pipeline().time().zrange(k.nodes, '0', '-1', 'WITHSCORES').exec()) as
        | [Error | null, unknown][]
        | null) ?? [];
    if (!time || !ranked || time[0] || ranked[0]) return;
    const [sec, usec] = time[1] as [string, string];
    const redisNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const flat = ranked[1] as string[];
    const names: string[] = [];
    const expires: number[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      names.push(flat[i]);
      expires.push(Number(flat[i + 1]));
    }
    const p = this.#redis.pipeline();
    for (const n of names) p.hvals(k.nodeGroups(n));
    const counts = (await p.exec()) ?? [];
    const here = Date.now();
    this.#peers = names.map((node, i) => {
      const members: GroupCounts = { tcp: 0, udp: 0, sse: 0 };
      const [err, values] = counts[i] ?? [];
      const list = err ? [] : ((values as string[] | undefined) ?? []);
      for (const text of list) addCounts(members, parseCounts(text));
      const age = Math.max(0, redisNow - (expires[i] - this.#opts.expiryMs));
      return { node, members, groups: list.length, lastSeen: new Date(here - age).toISOString() };
    });
  }

  #refreshPending(p: ReturnType<Redis['pipeline']>, key: string, m: Member): void {
    const now = m.pendingBytes;
    if (this.#pending.get(m.id) === now) return;
    this.#pending.set(m.id, now);
    p.hset(key, m.id, JSON.stringify(memberInfo(m, this.#opts.node)));
  }

  /** Withdraws this node from listings (a clean stop). */
  async withdraw(): Promise<void> {
    if (!this.up) return;
    const { node } = this.#opts;
    const p = this.#redis.pipeline();
    p.zrem(this.#keys.nodes, node);
    p.del(this.#keys.nodeGroups(node));
    for (const g of this.#written) p.del(this.#keys.nodeMembers(node, g));
    await p.exec();
  }

  /** Other live nodes and the groups holding shared history. */
  async #live(): Promise<{ others: string[]; shared: string[] }> {
    const k = this.#keys;
    const [nodes, shared] = await this.#redis.gcLive(k.nodes, k.groups);
    this.liveNodes = nodes.length;
    return { others: nodes.filter((n) => n !== this.#opts.node), shared };
  }

  /** Every group in the cluster, with its members counted on every live node. */
  async groups(local: GroupSummary[]): Promise<GroupSummary[]> {
    const { others, shared } = await this.#live();
    const byName = new Map<string, GroupSummary>();
    for (const s of local) byName.set(s.group, { ...s, counts: { ...s.counts } });
    const p = this.#redis.pipeline();
    for (const n of others) p.hgetall(this.#keys.nodeGroups(n));
    const res = (await p.exec()) ?? [];
    for (const [err, value] of res) {
      if (err || !value) continue;
      for (const [name, text] of Object.entries(value as Record<string, string>)) {
        const entry = byName.get(name) ?? blankSummary(name, byName);
        addCounts(entry.counts, parseCounts(text));
      }
    }
    for (const name of shared) if (!byName.has(name)) blankSummary(name, byName);
    const names = [...byName.keys()];
    const m = this.#redis.pipeline();
    for (const name of names) m.hmget(this.#keys.meta(name), 'epoch', 'seq');
    const metas = (await m.exec()) ?? [];
    names.forEach((name, i) => {
      const [err, v] = metas[i] ?? [];
      const [epoch, seq] = (err ? [] : (v as (string | null)[])) ?? [];
      if (epoch && seq && seq !== '0') {
        (byName.get(name) as GroupSummary).lastId = formatId(Number(epoch), Number(seq));
      }
    });
    return names.sort().map((n) => byName.get(n) as GroupSummary);
  }

  /** One group across the cluster: every node's members, the shared history window. */
  async group(name: string, local: GroupDetail | null): Promise<GroupDetail | null> {
    const { others } = await this.#live();
    const p = this.#redis.pipeline();
    for (const n of others) p.hgetall(this.#keys.nodeMembers(n, name));
    p.hmget(this.#keys.meta(name), 'epoch', 'seq', 'evicted', 'bytes');
    const res = (await p.exec()) ?? [];
    const members: MemberInfo[] = local ? [...local.members] : [];
    for (let i = 0; i < others.length; i++) {
      const [err, value] = res[i] ?? [];
      if (err || !value) continue;
      for (const text of Object.values(value as Record<string, string>)) {
        try {
          members.push(JSON.parse(text) as MemberInfo);
        } catch {}
      }
    }
    const [metaErr, meta] = res[others.length] ?? [];
    const [epoch, seqText, evictedText, bytesText] =
      (metaErr ? [] : (meta as (string | null)[])) ?? [];
    if (!local && members.length === 0 && !epoch) return null;
    const counts: GroupCounts = { tcp: 0, udp: 0, sse: 0 };
    for (const m of members) counts[m.transport]++;
    const base: GroupDetail = local ?? {
      group: name,
      counts,
      lastId: null,
      members,
      history: { messages: 0, bytes: 0, firstId: null, lastId: null, maxMessages: 0, maxBytes: 0 },
      counters: { messagesIn: 0, bytesIn: 0, deliveries: 0, bytesOut: 0 },
      createdAt: new Date(epoch ? Number(epoch) : Date.now()).toISOString(),
    };
    const detail: GroupDetail = { ...base, counts, members };
    if (epoch) {
      const e = Number(epoch);
      const seq = Number(seqText);
      const evicted = Number(evictedText);
      const held = seq - evicted;
      detail.lastId = seq > 0 ? formatId(e, seq) : null;
      detail.history = {
        messages: held,
        bytes: Number(bytesText),
        firstId: held > 0 ? formatId(e, evicted + 1) : null,
        lastId: held > 0 ? formatId(e, seq) : null,
        maxMessages: this.#opts.historyMessages,
        maxBytes: this.#opts.historyBytes,
      };
    }
    return detail;
  }
}

function formatCounts(c: GroupCounts): string {
  return `${c.tcp} ${c.udp} ${c.sse}`;
}

function parseCounts(text: string): GroupCounts {
  const [tcp, udp, sse] = text.split(' ').map(Number);
  return { tcp: tcp || 0, udp: udp || 0, sse: sse || 0 };
}

function addCounts(to: GroupCounts, c: GroupCounts): void {
  to.tcp += c.tcp;
  to.udp += c.udp;
  to.sse += c.sse;
}

function blankSummary(name: string, byName: Map<string, GroupSummary>): GroupSummary {
  const s: GroupSummary = { group: name, counts: { tcp: 0, udp: 0, sse: 0 }, lastId: null };
  byName.set(name, s);
  return s;
}
