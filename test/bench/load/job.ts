/** What the runner asks a load worker to do, and what it answers. Plain JSON over IPC. */
import type { Endpoint, HttpFlavor, StreamProtocol } from '../targets/types.ts';

export type PubSpec =
  | { kind: 'stream'; protocol: StreamProtocol; addr: Endpoint }
  /** `batch` messages per POST; more than 1 sends NDJSON. */
  | { kind: 'http'; flavor: HttpFlavor; addr: Endpoint; batch: number }
  | { kind: 'udp'; addr: Endpoint };

/** Receivers connect to `addrs` round-robin (several sidecars in the cluster scenario). */
export type SubSpec =
  | { kind: 'stream'; protocol: StreamProtocol; addrs: Endpoint[] }
  | { kind: 'sse'; flavor: HttpFlavor; addrs: Endpoint[] }
  | { kind: 'udp'; addrs: Endpoint[] };

export type Pace =
  /** As fast as receivers take it, with at most windowBytes unread per receiver. */
  | { kind: 'window'; windowBytes: number; burstBytes: number }
  /** Fixed messages per second per publisher, each stamped with its intended send time. */
  | { kind: 'rate'; perPublisher: number; tickMs?: number };

export interface FlowJob {
  groups: number;
  /** Publishers per group. */
  publishers: number;
  /** Receivers per group besides the publishers. */
  receivers: number;
  /** Publishers are group members that also receive the others' messages (groupcast, NATS). */
  combined: boolean;
  payload: number;
  pub: PubSpec;
  sub: SubSpec;
  pace: Pace;
  warmupMs: number;
  measureMs: number;
  /** Longest wait for the last messages after sending stops. */
  drainMs: number;
  /** Parse every message: per-publisher sequence and latency (else: byte counts plus samples). */
  fullCheck: boolean;
  /** The first receiver stops reading when measuring starts (slow-consumer scenario). */
  slowReceiver?: boolean;
  /** Connect, prove every member receives, then hold until released (memory scenario). */
  hold?: boolean;
}

export interface FlowResult {
  ok: boolean;
  error?: string;
  /** Length of the measured window, seconds. */
  seconds: number;
  /** Messages received by all receivers within the window. */
  delivered: number;
  /** Messages accepted from publishers within the window. */
  published: number;
  /** HTTP requests answered within the window. */
  posts: number;
  /** After draining: messages every receiver should have, and had (slow receiver excluded). */
  expected: number;
  received: number;
  /** Sequence or framing errors seen (duplicates, reordering, misaligned streams). */
  orderErrors: number;
  httpErrors: number;
  receivers: number;
  /** Slowest and fastest receiver, messages/s within the window. */
  minReceiverRate: number;
  maxReceiverRate: number;
  /** Microseconds from intended send time to receipt. */
  latency?: { p50: number; p99: number; p999: number; max: number; count: number };
  /** Fixed-rate jobs: how late the sender's bursts left their grid time within the window, µs. */
  sendLate?: { p50: number; p99: number; max: number };
  /** Longest the load worker's event loop was blocked within the window, ms (its own stalls). */
  loopDelayMaxMs?: number;
  /** Load worker CPU seconds within the window. */
  workerCpu: number;
  /** Slow-consumer scenario: the stopped receiver was disconnected by the server. */
  slowCut?: boolean;
  connections: number;
}

export type ToWorker = { type: 'job'; job: FlowJob } | { type: 'release' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'mark'; at: 'start' | 'end' }
  | { type: 'held'; connections: number }
  | { type: 'result'; result: FlowResult };
