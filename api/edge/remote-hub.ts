import type { TcpConnect } from '../../shared/client/tcp-transport.ts';
import { GroupcastError, LimitError, toGroupcastError } from '../../shared/errors.ts';
import type { FramingName } from '../../shared/framing/index.ts';
import { validateGroupId } from '../../shared/group-id.ts';
import type {
  GroupDetail,
  GroupSummary,
  HealthReport,
  HistoryPage,
  Hub,
  ListenerStatus,
  Origin,
  PublishResult,
  StartPoint,
  SubscribeOptions,
  Subscriber,
  Subscription,
} from '../../shared/hub.ts';
import {
  DEFAULT_UPSTREAM_IDLE_MS,
  DEFAULT_UPSTREAM_RETRY_MAX_MS,
  DEFAULT_UPSTREAM_RETRY_MIN_MS,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
} from '../../shared/options/edge.ts';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_SSE_QUEUE_BYTES,
} from '../../shared/options/sidecar.ts';
import { renderEdgeMetrics } from './edge-metrics.ts';
import { EdgeStats } from './edge-stats.ts';
import { PublishConnections } from './publish-connections.ts';
import { PublishQueue } from './publish-queue.ts';
import { SidecarLink } from './sidecar-link.ts';
import { type EdgeLog, EdgeTarget, Upstream, type UpstreamState } from './upstream.ts';

export type { EdgeLog } from './upstream.ts';

export interface RemoteHubOptions {
  /** Base URL of the sidecar's HTTP API, e.g. `http://127.0.0.1:7480`. */
  url: string;
  /** Sent to the sidecar as `Authorization: Bearer <token>`. @default none */
  token?: string | null;
  /** Time limit of a sidecar request, and of opening an upstream stream. @default 10 s */
  timeoutMs?: number;
  /** An upstream stream silent this long is reopened. @default 45 s */
  idleMs?: number;
  /** First and longest delay between attempts to reopen an upstream stream. @default 250 ms, 10 s */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Subscribers this edge worker serves at once. @default 50,000 */
  maxConnections?: number;
  /** A replay for one new subscriber stops at this size (its SSE queue limit). @default 4 MiB */
  sseQueueBytes?: number;
  /**
   * The largest message, as the sidecar's is (set no lower than the sidecar's): bounds one event
   * of the upstream stream, which the edge holds until it ends. @default 1 MiB
   */
  maxMessageBytes?: number;
  /** The sidecar's request body limit: POSTs sent together stay under it. @default 16 MiB */
  maxBodyBytes?: number;
  fetch?: typeof fetch;
  /**
   * A runtime's TCP connect: POSTs then go to an `http:` sidecar on the edge's own kept-open
   * connections (PublishConnections) instead of through fetch. @default none (fetch)
   */
  connect?: TcpConnect;
  log?: EdgeLog;
}

/**
 * The Hub of an edge worker: every group lives on a sidecar, reached over its own HTTP/SSE API.
 * Publishing is a POST; subscribers of one group share one upstream SSE stream (fanned out here),
 * so a thousand browsers on one edge worker cost the sidecar one subscriber. Stateless: a restart
 * loses nothing but the open streams, whose clients resume with Last-Event-ID.
 */
export class RemoteHub implements Hub {
  readonly sidecar: SidecarLink;
  readonly stats = new EdgeStats();
  /** Listener states, filled in by the runtime entry. */
  readonly listeners: Record<string, ListenerStatus> = {};
  readonly #upstreams = new Map<string, Upstream>();
  readonly #options: Required<
    Omit<RemoteHubOptions, 'token' | 'fetch' | 'log' | 'url' | 'connect'>
  >;
  readonly #log: EdgeLog;
  #subscribers = 0;
  #framing: FramingName = 'line';
  #closed = false;
  readonly #publishes: PublishQueue;
  readonly #posts: PublishConnections | null;

  constructor(options: RemoteHubOptions) {
    this.sidecar = new SidecarLink({
      url: options.url,
      token: options.token,
      timeoutMs: options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      fetch: options.fetch,
    });
    this.#options = {
      timeoutMs: options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      idleMs: options.idleMs ?? DEFAULT_UPSTREAM_IDLE_MS,
      retryMinMs: options.retryMinMs ?? DEFAULT_UPSTREAM_RETRY_MIN_MS,
      retryMaxMs: options.retryMaxMs ?? DEFAULT_UPSTREAM_RETRY_MAX_MS,
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      sseQueueBytes: options.sseQueueBytes ?? DEFAULT_SSE_QUEUE_BYTES,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    };
    this.#log = options.log ?? (() => {});
    const posts =
      options.connect && PublishConnections.handles(options.url, options.token)
        ? new PublishConnections({
            url: options.url,
            token: options.token,
            timeoutMs: this.#options.timeoutMs,
            connect: options.connect,
          })
        : null;
    this.#posts = posts;
    this.#publishes = new PublishQueue(
      (group, body, type) => this.#post(group, body, type),
      this.#options.maxBodyBytes,
    );
  }

  /** The sidecar's TCP framing, as its health report last said ('line' until it has). */
  get framing(): FramingName {
    return this.#framing;
  }

  /** Edge subscribers open now. */
  get subscribers(): number {
    return this.#subscribers;
  }

  /** Upstream streams by state. */
  upstreamStates(): Record<Exclude<UpstreamState, 'closed'>, number> {
    const out = { connecting: 0, open: 0, backoff: 0 };
    for (const u of this.#upstreams.values()) if (u.state !== 'closed') out[u.state]++;
    return out;
  }

  /** The upstream of a group, if one is open (for tests and inspection). */
  upstream(group: string): Upstream | undefined {
    return this.#upstreams.get(group);
  }

  async publish(group: string, payloads: Uint8Array[], _origin: Origin): Promise<PublishResult> {
    validateGroupId(group);
    try {
      const result = await this.#publishes.publish(group, payloads);
      this.stats.published += payloads.length;
      return result;
    } catch (err) {
      this.stats.count(this.stats.publishErrors, toGroupcastError(err).code);
      throw err;
    }
  }

  /** An NDJSON batch goes to the sidecar as it came: the sidecar checks its JSON. */
  async publishNdjson(
    group: string,
    body: Uint8Array,
    count: number,
    _origin: Origin,
  ): Promise<PublishResult> {
    validateGroupId(group);
    try {
      const result = await this.#post(group, body, 'application/x-ndjson');
      this.stats.published += count;
      return result;
    } catch (err) {
      this.stats.count(this.stats.publishErrors, toGroupcastError(err).code);
      throw err;
    }
  }

  async #post(group: string, body: Uint8Array, contentType: string): Promise<PublishResult> {
    this.stats.publishRequests++;
    const posts = this.#posts;
    if (posts) return this.sidecar.call(() => posts.send(group, body, contentType));
    return this.sidecar.call((c) => c.publishBody(group, body, contentType));
  }

  async subscribe(
    group: string,
    start: StartPoint,
    subscriber: Subscriber,
    opts: SubscribeOptions = {},
  ): Promise<Subscription> {
    validateGroupId(group);
    // Subscribers here share one upstream stream per group: presence is asked of the sidecar.
    if (opts.presence) {
      throw new GroupcastError(
        'BAD_REQUEST',
        'presence events are served by the sidecar, not by the edge worker',
      );
    }
    if (this.#closed) throw new GroupcastError('SHUTTING_DOWN');
    if (this.#subscribers >= this.#options.maxConnections) {
      throw new LimitError('TOO_MANY_CONNECTIONS', this.#options.maxConnections);
    }
    let up = this.#upstreams.get(group);
    if (!up || up.state === 'closed') {
      const created: Upstream = new Upstream(
        group,
        {
          sidecar: this.sidecar,
          stats: this.stats,
          log: this.#log,
          idleMs: this.#options.idleMs,
          retryMinMs: this.#options.retryMinMs,
          retryMaxMs: this.#options.retryMaxMs,
          replayLimitBytes: this.#options.sseQueueBytes,
          maxEventBytes: maxEventBytes(this.#options.maxMessageBytes),
        },
        () => {
          if (this.#upstreams.get(group) === created) this.#upstreams.delete(group);
        },
      );
      up = created;
      this.#upstreams.set(group, up);
    }
    const target = new EdgeTarget(subscriber, start);
    this.#subscribers++;
    const upstream = up;
    let done = false;
    const unsubscribe = (reason?: GroupcastError) => {
      if (done) return;
      done = true;
      this.#subscribers--;
      if (reason?.code === 'SLOW_CONSUMER') this.stats.slowConsumers++;
      upstream.release(target);
    };
    try {
      await upstream.attach(target, start);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return { unsubscribe };
  }

  async history(group: string, start: StartPoint, limit: number): Promise<HistoryPage | null> {
    validateGroupId(group);
    const after = start.kind === 'after' ? start.id : null;
    const page = await this.sidecar.historyPage(group, after, start.kind === 'live' ? 1 : limit);
    if (!page || start.kind !== 'live') return page;
    return { ...page, messages: [], more: false };
  }

  async groups(): Promise<GroupSummary[]> {
    return this.sidecar.call((c) => c.groups());
  }

  async group(name: string): Promise<GroupDetail | null> {
    validateGroupId(name);
    try {
      return await this.sidecar.call((c) => c.group(name));
    } catch (err) {
      if (err instanceof GroupcastError && err.code === 'GROUP_NOT_FOUND') return null;
      throw err;
    }
  }

  /**
   * The edge's own state and the sidecar's: `down` (503) when the sidecar cannot be reached or
   * says it is down, since the edge can then publish nothing; `degraded` when the sidecar is.
   */
  async health(): Promise<HealthReport> {
    const started = Date.now();
    let sidecar: HealthReport | null = null;
    let error: string | null = null;
    try {
      sidecar = await this.sidecar.call((c) => c.health(), true);
      if (typeof sidecar?.framing === 'string') this.#framing = sidecar.framing as FramingName;
    } catch (err) {
      error = toGroupcastError(err).message;
    }
    const upstreamStatus = sidecar?.status ?? null;
    const refused = this.sidecar.refused;
    const status =
      this.#closed || upstreamStatus === null || upstreamStatus === 'down'
        ? 'down'
        : upstreamStatus === 'degraded' || refused
          ? 'degraded'
          : 'ok';
    return {
      status,
      listeners: structuredClone(this.listeners),
      upstream: {
        url: redact(this.sidecar.url),
        reachable: sidecar !== null,
        status: upstreamStatus,
        latencyMs: Date.now() - started,
        error: error ?? refused,
        streams: this.upstreamStates(),
      },
      subscribers: this.#subscribers,
    };
  }

  async metrics(): Promise<string> {
    return renderEdgeMetrics(this);
  }

  /** Ends every subscriber (SHUTTING_DOWN) and every upstream stream (idempotent). */
  close(): void {
    this.#closed = true;
    for (const l of Object.values(this.listeners)) l.listening = false;
    for (const up of [...this.#upstreams.values()]) up.close(new GroupcastError('SHUTTING_DOWN'));
    // POSTs on their way finish; their connections close once idle.
    this.#posts?.close();
  }
}

/**
 * The largest event a message of `maxMessageBytes` becomes on the stream: a text payload of line
 * feeds costs 7 bytes a byte (`\ndata: `), base64 4/3; plus the id and event lines.
 */
function maxEventBytes(maxMessageBytes: number): number {
  return 8 * maxMessageBytes + 1024;
}

/** A URL without the credentials it may carry, for reports. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '';
  }
}
