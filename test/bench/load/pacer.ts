/**
 * The receivers' side of the pacer thread (pacer-thread.ts): starts it, reads how many messages
 * each publisher has sent from shared memory, and stands in for its publishers in the flow.
 */
import { Worker } from 'node:worker_threads';
import type { PubSpec } from './job.ts';
import { Publisher } from './publishers.ts';
import type { Hooks } from './receivers.ts';

/** Layout of the shared Int32Array: a stop flag the thread sleeps on, then sent counts. */
export const STOP_AT = 0;
export const SENT_AT = 1;

export type PacedSpec = Extract<PubSpec, { kind: 'stream' | 'udp' }>;

export interface PacerInit {
  origin: bigint;
  shared: SharedArrayBuffer;
  payload: number;
  perPublisher: number;
  tickMs: number;
  pubs: { id: number; spec: PacedSpec; group: string }[];
}

export type ToPacer =
  | { type: 'probe'; index: number }
  | { type: 'start' }
  | { type: 'measure'; from: number }
  | { type: 'close' };

export interface SendLateness {
  p50: number;
  p99: number;
  max: number;
}

const THREAD = new URL('./pacer-thread.ts', import.meta.url).href;
// Worker threads do not inherit the --import hooks: load tsx in the thread, then the entry.
const BOOT = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(THREAD)});`;

export class Pacer {
  readonly #shared: Int32Array;
  readonly #worker: Worker;
  #ready = false;
  #stopped: Promise<SendLateness | undefined> | null = null;
  #onStopped: (late: SendLateness | undefined) => void = () => {};
  #closed = false;

  constructor(init: Omit<PacerInit, 'shared'>, fail: (err: Error) => void) {
    const shared = new SharedArrayBuffer(4 * (SENT_AT + init.pubs.length));
    this.#shared = new Int32Array(shared);
    this.#worker = new Worker(BOOT, { eval: true, workerData: { ...init, shared } });
    this.#worker.on('message', (m: { type: string; late?: SendLateness }) => {
      if (m.type === 'ready') this.#ready = true;
      else if (m.type === 'stopped') this.#onStopped(m.late);
    });
    this.#worker.on('error', fail);
  }

  get ready(): boolean {
    return this.#ready;
  }

  sent(index: number): number {
    return Atomics.load(this.#shared, SENT_AT + index);
  }

  post(m: ToPacer): void {
    if (!this.#closed) this.#worker.postMessage(m);
  }

  /** Stops sending; resolves with how late bursts left in the measured window (µs). */
  stop(): Promise<SendLateness | undefined> {
    this.#stopped ??= new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 2000);
      this.#onStopped = (late) => {
        clearTimeout(timer);
        resolve(late);
      };
      Atomics.store(this.#shared, STOP_AT, 1);
      Atomics.notify(this.#shared, STOP_AT);
    });
    return this.#stopped;
  }

  close(): void {
    if (this.#closed) return;
    this.post({ type: 'close' });
    this.#closed = true;
    const w = this.#worker;
    setTimeout(() => void w.terminate(), 500).unref();
  }
}

/** One of the pacer's publishers, as the flow sees it: sends happen on the thread. */
export class PacedPublisher extends Publisher {
  readonly #pacer: Pacer;
  readonly #index: number;

  constructor(id: number, size: number, hooks: Hooks, pacer: Pacer, index: number) {
    super(id, size, hooks);
    this.#pacer = pacer;
    this.#index = index;
  }

  get ready(): boolean {
    return this.#pacer.ready;
  }

  canSend(): boolean {
    return false;
  }

  write(): void {
    throw new Error('a paced publisher sends on its thread');
  }

  probe(): void {
    this.#pacer.post({ type: 'probe', index: this.#index });
  }

  override sync(): void {
    const sent = this.#pacer.sent(this.#index);
    const n = sent - this.sent;
    if (n <= 0) return;
    for (const r of this.receivers) r.expected += n;
    this.sent = sent;
    this.accepted += n;
  }

  close(): void {
    this.#pacer.close();
  }
}
