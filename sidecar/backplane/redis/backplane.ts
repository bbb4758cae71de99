import { Redis, type RedisOptions } from 'ioredis';
import type { Registry as PromRegistry } from 'prom-client';
import type { GroupDetail, GroupSummary, HistoryPage, StartPoint } from '../../../shared/hub.ts';
import type { Batch } from '../../../shared/message.ts';
import type { SidecarOptions } from '../../../shared/options/sidecar.ts';
import { type Group, PARKED, type SseMember } from '../../group.ts';
import type { Logger } from '../../logger.ts';
import type { Member } from '../../member.ts';
import type { Backplane, BackplaneHealth, BackplaneHost } from '../types.ts';
import { Channels } from './channels.ts';
import {
  decodeShared,
  isIdMessage,
  ownBlobStart,
  readIdMessage,
  type SharedBatch,
  sharedCount,
} from './codec.ts';
import { type Hole, SharedHistory } from './history.ts';
import { RedisKeys } from './keys.ts';
import { Outbox } from './outbox.ts';
import { Registry } from './registry.ts';
import { defineScripts, type Scripted } from './scripts.ts';
import { Sequencer } from './sequencer.ts';
import { BackplaneStats, registerBackplaneMetrics } from './stats.ts';
import { RedisSubscriber } from './subscriber.ts';

export type RedisBackplaneOptions = Pick<
  SidecarOptions,
  | 'redisPrefix'
  | 'redisQueueBytes'
  | 'redisPresenceQueue'
  | 'redisReadBackWaitMs'
  | 'nodeHeartbeatMs'
  | 'nodeExpiryMs'
  | 'historyMessages'
  | 'historyBytes'
  | 'groupTtlMs'
> & { redisUrl: string };

/** Longest wait between reconnection attempts. */
export const REDIS_RETRY_MAX_MS = 2_000;
/** A command unanswered this long means the connection is dead: it is dropped and retried. */
export const REDIS_SOCKET_TIMEOUT_MS = 5_000;
/** How long start-up waits for a first connection before it goes on without one. */
export const REDIS_START_WAIT_MS = 1_000;
/** Batches from other nodes that may wait while a hole is read back from the shared history. */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;
/** A read-back that failed while the command connection looked ready is tried again after this. */
const READ_BACK_RETRY_MS = 200;

/**
 * Groups shared by several sidecars over Redis. Local members get a batch at once, as with one
 * sidecar; the batch then goes to Redis (see Outbox), which numbers it for the whole cluster,
 * keeps it in the group's shared history and publishes it on the group's channel; every node listening
 * (including this one, for its SSE subscribers) delivers it from there (see Sequencer). If
 * Redis is out of reach, each node serves its own members and reconnects by itself.
 */
export class RedisBackplane implements Backplane {
  readonly kind = 'redis' as const;
  readonly #hub: BackplaneHost;
  readonly #opts: RedisBackplaneOptions;
  readonly #log: Logger;
  readonly #keys: RedisKeys;
  readonly #cmd: Redis & Scripted;
  readonly #sub: RedisSubscriber;
  readonly #stats = new BackplaneStats();
  readonly #sequencer: Sequencer;
  readonly #outbox: Outbox;
  readonly #channels: Channels;
  /** Patterns held here (RESP PSUBSCRIBE), followed on every node's groups. */
  readonly #patterns: Channels;
  /** Groups whose presence is watched here: other nodes' join and leave events. */
  readonly #presence: Channels;
  /** Presence events sent to Redis and not answered yet (bounded by redisPresenceQueue). */
  #presenceInFlight = 0;
  readonly #registry: Registry;
  readonly #history: SharedHistory;
  readonly #channelPrefix: number;
  /** Per channel: the id announced for the batch that comes next on it. */
  readonly #announced = new Map<string, { epoch: number; seq: number }>();
  /** The same for what arrives for a pattern (Redis sends it once per pattern subscription). */
  readonly #announcedByPattern = new Map<string, { epoch: number; seq: number }>();
  #cmdReady = false;
  #subReady = false;
  #everConnected = false;
  #subEverReady = false;
  /** Read-backs waiting for the command connection: woken when it is ready. */
  readonly #cmdWaiters = new Set<() => void>();
  #changedAt = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;

  constructor(hub: BackplaneHost, opts: RedisBackplaneOptions, log: Logger) {
    this.#hub = hub;
    this.#opts = opts;
    this.#log = log.child({ backplane: 'redis' });
    this.#keys = new RedisKeys(opts.redisPrefix);
    this.#channelPrefix = this.#keys.channelPrefix.length;
    const node = hub.node;
    const retryDelayMs = (times: number) =>
      Math.min(50 * 2 ** Math.min(times, 6), REDIS_RETRY_MAX_MS);
    const base: RedisOptions = {
      lazyConnect: true,
      // Nothing waits for a connection: a command fails at once, and a batch is numbered here.
      enableOfflineQueue: false,
      // In-flight commands fail when the connection drops instead of being sent again, which
      // could publish a batch twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      retryStrategy: retryDelayMs,
      connectTimeout: REDIS_START_WAIT_MS * 2,
      socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
    };
    this.#cmd = defineScripts(
      new Redis(opts.redisUrl, { ...base, connectionName: `groupcast-${node}` }),
    );
    this.#sub = new RedisSubscriber(
      {
        url: opts.redisUrl,
        name: `groupcast-${node}-sub`,
        connectTimeoutMs: REDIS_START_WAIT_MS * 2,
        socketTimeoutMs: REDIS_SOCKET_TIMEOUT_MS,
        retryDelayMs,
        // This node's own batches come back on the channel: only their ids are needed.
        skip: ownBlobStart(node, hub.framing),
      },
      {
        ready: () => this.#subOnReady(),
        close: () => this.#subOnClose(),
        error: (err) => this.#onError(err),
        message: (channel, payload, skipped, pattern) =>
          this.#subOnMessage(channel, payload, skipped, pattern),
      },
    );
    const keyTtlMs = Math.max(opts.groupTtlMs, opts.nodeExpiryMs);
    this.#history = new SharedHistory(this.#cmd, this.#keys);
    this.#sequencer = new Sequencer({
      node,
      readRange: (group, epoch, after, upto) => this.#readRange(group, epoch, after, upto),
      published: (group, epoch, first, last) => this.#outbox.published(group, epoch, first, last),
      numberedHere: (field, count) => this.#outbox.numberedHere(field, count),
      unconfirmedEcho: (count) => this.#outbox.unconfirmedEcho(count),
      maxHeldBytes: MAX_HELD_BYTES,
      stats: this.#stats,
      log: this.#log,
    });
    this.#outbox = new Outbox(
      this.#cmd,
      this.#keys,
      {
        node,
        framing: hub.framing,
        historyMessages: opts.historyMessages,
        historyBytes: opts.historyBytes,
        keyTtlMs,
        maxQueueBytes: opts.redisQueueBytes,
      },
      this.#sequencer,
      this.#stats,
      this.#log,
    );
    this.#outbox.listening = (group) => this.#subReady && group.size > 0;
    const keys = this.#keys;
    this.#channels = new Channels(this.#sub, { redisName: (g) => keys.channel(g), pattern: false });
    this.#patterns = new Channels(this.#sub, { redisName: (p) => keys.pattern(p), pattern: true });
    this.#presence = new Channels(this.#sub, {
      redisName: (g) => keys.presence(g),
      pattern: false,
    });
    this.#registry = new Registry(
      this.#cmd,
      this.#keys,
      hub,
      {
        node,
        expiryMs: opts.nodeExpiryMs,
        keyTtlMs,
        historyMessages: opts.historyMessages,
        historyBytes: opts.historyBytes,
      },
      this.#log,
    );
  }

  get #connected(): boolean {
    return this.#cmdReady && this.#subReady;
  }

  async start(): Promise<void> {
    const cmd = this.#cmd;
    const sub = this.#sub;
    cmd.on('ready', this.#cmdOnReady);
    cmd.on('close', this.#cmdOnClose);
    cmd.on('error', this.#onError);
    const first = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, REDIS_START_WAIT_MS);
      timer.unref();
      cmd.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    cmd.connect().catch(() => {});
    sub.connect();
    await first;
    if (!this.#cmdReady) {
      this.#log.warn(
        { url: redactUrl(this.#opts.redisUrl) },
        'redis out of reach: serving local members only, retrying in the background',
      );
    }
    this.#timer = setInterval(this.#onHeartbeat, this.#opts.nodeHeartbeatMs);
    this.#timer.unref();
  }

  #changed(): void {
    this.#changedAt = Date.now();
  }

  #cmdOnReady = (): void => {
    this.#cmdReady = true;
    this.#outbox.up = true;
    this.#registry.up = true;
    this.#changed();
    if (this.#everConnected) this.#stats.reconnects++;
    this.#log.info(
      { url: redactUrl(this.#opts.redisUrl), node: this.#hub.node },
      this.#everConnected
        ? 'redis connection back: sharing groups again'
        : 'redis connected: sharing groups',
    );
    this.#everConnected = true;
    this.#registry
      .resync()
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'redis registry resync failed'));
    this.#outbox.reconnected();
    const waiting = [...this.#cmdWaiters];
    this.#cmdWaiters.clear();
    for (const wake of waiting) wake();
  };

  /**
   * A stretch of the shared history for the sequencer. A hole is found when the pub/sub
   * connection is back, which may be before the command connection is: the read waits for it,
   * and tries again, up to redisReadBackWaitMs, rather than take "not connected" for "not held".
   */
  async #readRange(
    group: string,
    epoch: number,
    after: number,
    upto: number,
  ): Promise<(SharedBatch | Hole)[]> {
    const wait = this.#opts.redisReadBackWaitMs;
    const deadline = Date.now() + wait;
    let last: Error | null = null;
    for (;;) {
      if (this.#cmdReady) {
        try {
          const list = await this.#history.range(group, epoch, after, upto);
          return list.map((e) => ('hole' in e ? e : this.#reframe(e)));
        } catch (err) {
          last = err as Error;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#closing) {
        throw new Error(
          `no answer from Redis within the read-back wait (${wait} ms)${last ? `: ${last.message}` : ''}`,
        );
      }
      await this.#cmdBack(this.#cmdReady ? Math.min(left, READ_BACK_RETRY_MS) : left);
    }
  }

  /** Resolves once the command connection is (back) ready, or after `ms`. */
  #cmdBack(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#cmdWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.#cmdWaiters.add(wake);
    });
  }

  #cmdOnClose = (): void => {
    if (this.#cmdReady) {
      this.#log.warn('redis connection lost: serving local members only, reconnecting');
      this.#changed();
    }
    this.#cmdReady = false;
    this.#outbox.up = false;
    this.#registry.up = false;
  };

  #subOnReady = (): void => {
    this.#subReady = true;
    this.#changed();
    if (this.#subEverReady) {
      this.#stats.reconnects++;
      // What was published meanwhile shows as a hole in the next batch and is read back then.
      this.#log.info(
        { node: this.#hub.node, groups: this.#channels.size },
        'redis pub/sub connection back: resubscribing, missed messages are read back',
      );
    }
    this.#subEverReady = true;
    this.#channels.onReady();
    this.#patterns.onReady();
    this.#presence.onReady();
  };

  #subOnClose = (): void => {
    if (this.#subReady) {
      this.#changed();
      this.#log.warn('redis pub/sub connection lost: reconnecting');
    }
    this.#subReady = false;
    this.#announced.clear();
    this.#announcedByPattern.clear();
    this.#outbox.forgetEchoes();
    this.#channels.onClose();
    this.#patterns.onClose();
    this.#presence.onClose();
  };

  #errorAt = 0;

  #onError = (err: Error): void => {
    // Each failed reconnection reports one; once every 10 s is enough to tell an operator.
    const now = Date.now();
    if (now - this.#errorAt < 10_000) return;
    this.#errorAt = now;
    this.#log.warn({ err: err.message }, 'redis error');
  };

  /**
   * Each batch on a channel comes right after a message with its id (see scripts.ts). Of
   * a batch this node published, only the first bytes were read (`skipped`).
   */
  #subOnMessage = (
    channel: string,
    message: Uint8Array,
    skipped: boolean,
    pattern: boolean,
  ): void => {
    if (pattern) {
      const name = channel.slice(this.#channelPrefix);
      // A group with members here (pattern followers included) is read on its own channel once
      // that is live; until then its batches come this way (a copy on both ways is a duplicate,
      // which the sequencer drops).
      if (this.#channels.live(name)) return;
      this.#receive(name, message, skipped, this.#announcedByPattern, true);
      return;
    }
    if (channel.startsWith(this.#keys.presencePrefix)) {
      this.#presenceFromNode(channel, message);
      return;
    }
    this.#receive(channel.slice(this.#channelPrefix), message, skipped, this.#announced, false);
  };

  #receive(
    name: string,
    message: Uint8Array,
    skipped: boolean,
    announced: Map<string, { epoch: number; seq: number }>,
    forPattern: boolean,
  ): void {
    if (isIdMessage(message)) {
      const id = readIdMessage(message);
      if (id) announced.set(name, id);
      else this.#stats.count('malformed', 1);
      return;
    }
    const id = announced.get(name);
    announced.delete(name);
    // For a pattern only, the group may have no members here: its followers join it now.
    const group = forPattern ? this.#hub.patternGroup(name) : this.#hub.findGroup(name);
    if (!group) return;
    let shared: SharedBatch | null = null;
    let count = 0;
    try {
      if (!id) throw new Error('a batch without its id');
      if (skipped) count = sharedCount(message);
      else shared = this.#reframe(decodeShared(message, id.epoch, id.seq));
    } catch {
      this.#stats.count('malformed', 1);
      return;
    }
    if (shared) this.#sequencer.fromRedis(group, shared);
    else if (id)
      this.#sequencer.echoed(group, { epoch: id.epoch, firstSeq: id.seq - count + 1, count });
    // Held by pattern followers only, it lives on for its time to live from its last batch, as
    // an idle group does.
    if (group.anchored === 0) this.#hub.settle(group);
  }

  #presenceFromNode(channel: string, message: Uint8Array): void {
    const group = channel.slice(this.#keys.presencePrefix.length);
    const json = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString();
    if (this.#hub.remotePresence(group, json)) this.#stats.presence.received++;
    else this.#stats.count('malformed', 1);
  }

  watchPattern(pattern: string): void {
    this.#patterns.want(pattern);
  }

  unwatchPattern(pattern: string): void {
    this.#patterns.unwant(pattern);
  }

  watchPresence(group: string): void {
    this.#presence.want(group);
  }

  unwatchPresence(group: string): void {
    this.#presence.unwant(group);
  }

  /**
   * Fire and forget: an event Redis does not take (out of reach, too many unanswered) is lost
   * for other nodes, counted; nothing is queued for later, since a late join or leave misleads.
   */
  sharePresence(group: string, json: string): void {
    if (!this.#cmdReady || this.#presenceInFlight >= this.#opts.redisPresenceQueue) {
      this.#stats.presence.unshared++;
      return;
    }
    this.#presenceInFlight++;
    this.#cmd.publish(this.#keys.presence(group), json).then(
      () => {
        this.#presenceInFlight--;
        this.#stats.presence.shared++;
      },
      () => {
        this.#presenceInFlight--;
        this.#stats.presence.unshared++;
      },
    );
  }

  /** A batch from a node with another TCP framing is framed for this node's TCP members. */
  #reframe = (shared: SharedBatch): SharedBatch => {
    if (shared.framing === this.#hub.framing || shared.origin === this.#hub.node) return shared;
    const src = shared.batch;
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < src.count; i++) payloads.push(src.payload(i));
    try {
      const b = this.#hub.codec.encode(payloads);
      b.epoch = src.epoch;
      b.firstSeq = src.firstSeq;
      b.time = src.time;
      return { ...shared, batch: b };
    } catch {
      this.#stats.count('unframeable', src.count);
      return { ...shared, notForSockets: true };
    }
  };

  #onHeartbeat = (): void => {
    if (this.#subReady) this.#sub.ping().catch(() => {});
    this.#registry
      .heartbeat()
      .catch((err: Error) => this.#log.debug({ err: err.message }, 'redis heartbeat failed'));
  };

  publish(group: Group, batch: Batch, origin: Member | null): number {
    const recipients = group.accept(batch, origin, 'early');
    this.#outbox.publish(group, batch);
    // SSE subscribers here get it with its cluster id, from the channel.
    return recipients + group.sseFanout.size;
  }

  admit(bytes: number): void {
    this.#outbox.admit(bytes);
  }

  numbered(batch: Batch): Promise<void> | undefined {
    return this.#outbox.numbered(batch);
  }

  replay(group: Group, member: SseMember, start: StartPoint): Promise<void> | undefined {
    if (start.kind === 'live' || !this.#connected) {
      group.replay(member, start);
      return undefined;
    }
    return this.#replayShared(group, member, start);
  }

  async #replayShared(group: Group, member: SseMember, start: StartPoint): Promise<void> {
    member.lastSeq = PARKED;
    try {
      // Listening before reading: whatever the snapshot misses then arrives on the channel.
      await this.#channels.confirmed(group.name);
      const snap = await this.#history.snapshot(group.name, start, 0);
      this.#sequencer.merge(group, member, start, snap);
    } catch (err) {
      this.#log.debug(
        { err: (err as Error).message },
        'shared replay failed: replaying from this node',
      );
      member.lastSeq = 0;
      group.replay(member, start);
    }
  }

  async page(
    name: string,
    start: StartPoint,
    limit: number,
    local: Group | undefined,
  ): Promise<HistoryPage | null> {
    if (!this.#cmdReady) return local?.page(start, limit) ?? null;
    try {
      return (await this.#history.page(name, start, limit)) ?? local?.page(start, limit) ?? null;
    } catch {
      return local?.page(start, limit) ?? null;
    }
  }

  joined(group: Group, member: Member): void {
    this.#registry.joined(group, member);
    if (group.size === 1) this.#channels.want(group.name);
  }

  left(group: Group, member: Member): void {
    this.#registry.left(group, member);
    if (group.size === 0) {
      this.#channels.unwant(group.name);
      this.#sequencer.unsync(group);
      this.#outbox.forgetEchoes(group);
    }
  }

  async groups(local: GroupSummary[]): Promise<GroupSummary[]> {
    if (!this.#cmdReady) return local;
    try {
      return await this.#registry.groups(local);
    } catch {
      return local;
    }
  }

  async group(name: string, local: GroupDetail | null): Promise<GroupDetail | null> {
    if (!this.#cmdReady) return local;
    try {
      return await this.#registry.group(name, local);
    } catch {
      return local;
    }
  }

  health(): BackplaneHealth {
    return {
      degraded: !this.#connected,
      detail: {
        kind: 'redis',
        connected: this.#connected,
        since: new Date(this.#changedAt).toISOString(),
        url: redactUrl(this.#opts.redisUrl),
        nodes: this.#registry.liveNodes,
        peers: this.#registry.peers,
        queueBytes: this.#outbox.queuedBytes,
      },
    };
  }

  registerMetrics(register: PromRegistry): void {
    registerBackplaneMetrics(register, this.#stats, {
      connected: () => this.#connected,
      queueBytes: () => this.#outbox.queuedBytes,
      nodes: () => this.#registry.liveNodes,
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      for (const wake of [...this.#cmdWaiters]) wake();
      try {
        await withTimeout(this.#registry.withdraw(), REDIS_START_WAIT_MS);
      } catch {}
      this.#cmd.disconnect();
      this.#sub.disconnect();
    })();
    return this.#closing;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for logs and /healthz. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://?';
  }
}
