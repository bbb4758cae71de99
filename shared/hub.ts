import type { GroupcastError } from './errors.ts';
import type { FramingName } from './framing/index.ts';
import type { Message, Transport } from './message.ts';
import type { GapInfo } from './sse.ts';

/**
 * The seam between the HTTP/SSE API and whatever holds the groups: the sidecar implements it in
 * process, the edge worker over HTTP to a sidecar. The API cannot tell which one it has.
 */
export interface Hub {
  /** Framing of the hub's TCP members: decides which payloads can be carried. */
  readonly framing: FramingName;
  /** Publishes payloads into a group, in order. Throws a GroupcastError for bad input. */
  publish(
    group: string,
    payloads: Uint8Array[],
    origin: Origin,
    options?: PublishOptions,
  ): Promise<PublishResult>;
  /**
   * Takes room for a request body of `bytes` before it is read; throws OVER_BUDGET when the
   * hub's memory budget is used up. Returns the release. Absent: the hub keeps no budget.
   */
  reserve?(bytes: number): () => void;
  /**
   * Optional: publishes an NDJSON batch (`count` messages, sizes already checked) as it came,
   * for a hub whose store checks the JSON itself (the edge worker passes it to its sidecar).
   */
  publishNdjson?(
    group: string,
    body: Uint8Array,
    count: number,
    origin: Origin,
  ): Promise<PublishResult>;
  /**
   * Adds an SSE subscriber to a group, replays from `start`, then streams live. The hub writes
   * event-stream bytes to the subscriber; the same bytes are shared by every subscriber.
   */
  subscribe(
    group: string,
    start: StartPoint,
    subscriber: Subscriber,
    opts?: SubscribeOptions,
  ): Promise<Subscription>;
  /** Up to `limit` held messages of a group from a start point; null for an unknown group. */
  history(group: string, start: StartPoint, limit: number): Promise<HistoryPage | null>;
  groups(): Promise<GroupSummary[]>;
  group(name: string): Promise<GroupDetail | null>;
  health(): Promise<HealthReport>;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
}

export interface PublishOptions {
  /**
   * A later slice of a request whose first slice was published: it waits for a congested group
   * as long as it takes instead of being refused (GROUP_BUSY), so a request is never refused
   * half-published for that.
   */
  continuing?: boolean;
}

export interface Origin {
  transport: Transport;
  remote: string;
}

export interface PublishResult {
  /** Ids of the stored messages, in order. */
  ids: string[];
  /** Members the messages were handed to. */
  recipients: number;
}

/** Where a new subscription starts: only new messages, after a given id, or all that is held. */
export interface SubscribeOptions {
  /** Also stream `event: join` / `event: leave` as members come and go (sidecar only). */
  presence?: boolean;
}

export type StartPoint =
  | { readonly kind: 'live' }
  | { readonly kind: 'after'; readonly id: string }
  | { readonly kind: 'earliest' };

/** An SSE stream as the hub sees it. */
export interface Subscriber {
  readonly remote: string;
  /** Bytes queued for this subscriber and not yet taken by its connection. */
  readonly pendingBytes: number;
  /** Bytes its connection has taken since it opened (progress). */
  readonly takenBytes: number;
  /**
   * Queues event-stream bytes. Never throws. A subscriber past its queue limit ends itself,
   * unless `flowControlled`: the bytes come from sources the hub slows down instead.
   */
  write(chunk: Uint8Array, flowControlled?: boolean): void;
  /**
   * Told whenever the connection took bytes (set by the hub; at most one). An object rather
   * than a callback: a closure per subscriber costs memory for as long as the stream is open.
   */
  takenBy?: TakenListener;
  /**
   * Ends the stream (idempotent): after what is queued, with a last `event: close` naming the
   * reason; a SLOW_CONSUMER is dropped at once instead, with what is queued.
   */
  close(reason?: GroupcastError): void;
}

/** What a Subscriber tells when its connection took bytes. */
export interface TakenListener {
  taken(): void;
}

export interface Subscription {
  /** Removes the subscriber from its group (idempotent). `reason` is counted when given. */
  unsubscribe(reason?: GroupcastError): void;
}

export interface HistoryPage {
  group: string;
  /** Oldest first. */
  messages: Message[];
  /** Set when the start point's id was evicted, unknown, or from an earlier run. */
  gap: GapInfo | null;
  /** The group's newest id. */
  lastId: string | null;
  /** True when more messages follow the last one returned. */
  more: boolean;
}

export interface GroupCounts {
  tcp: number;
  udp: number;
  sse: number;
  /** Redis clients on the RESP port (absent in listings from nodes older than the RESP port). */
  resp: number;
}

export interface GroupSummary {
  group: string;
  counts: GroupCounts;
  lastId: string | null;
  /** What this node saw of the group (absent for a group only other nodes hold). */
  activity?: GroupActivity;
}

/** Traffic a node counted for one group since it started, and its newest message at a glance. */
export interface GroupActivity {
  messagesIn: number;
  bytesIn: number;
  /** Messages handed to members (one per member reached). */
  deliveries: number;
  /** Payload bytes handed to members. */
  bytesOut: number;
  /** When the sidecar received the newest message (ISO 8601), or null before the first. */
  lastAt: string | null;
  /** The start of the newest held message as text, or null (none held, or binary). */
  preview: string | null;
  /** Members here with bytes not yet sent to them, and those bytes in all. */
  membersBehind: number;
  pendingBytes: number;
}

export interface MemberInfo {
  id: string;
  transport: 'tcp' | 'udp' | 'sse' | 'resp';
  /** The client's name, where it set one (a Redis client's CLIENT SETNAME). */
  name?: string;
  remote: string;
  joinedAt: string;
  pendingBytes: number;
  /** The sidecar holding the member, when several share groups. */
  node?: string;
  /** A Redis client there only for a pattern (PSUBSCRIBE): not counted by PUBSUB NUMSUB. */
  follower?: true;
}

export interface HistoryWindow {
  messages: number;
  bytes: number;
  firstId: string | null;
  lastId: string | null;
  maxMessages: number;
  maxBytes: number;
}

export interface GroupDetail extends GroupSummary {
  members: MemberInfo[];
  history: HistoryWindow;
  counters: {
    messagesIn: number;
    bytesIn: number;
    deliveries: number;
    /** Payload bytes handed to members; absent from older sidecars. */
    bytesOut?: number;
  };
  createdAt: string;
}

export interface ListenerStatus {
  listening: boolean;
  address: string | null;
}

export interface HealthReport {
  /** ok: serving; degraded: serving with a part down (e.g. a backplane); down: not serving. */
  status: 'ok' | 'degraded' | 'down';
  listeners: Record<string, ListenerStatus>;
  [extra: string]: unknown;
}
