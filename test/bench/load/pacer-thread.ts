/**
 * The fixed-rate senders, on a thread of their own. Between bursts the thread sleeps in
 * Atomics.wait, which wakes within tens of µs of the tick and costs no CPU while waiting; on the
 * event loop the same precision needed a busy spin that held a whole core and delayed the
 * receivers sharing the loop (issue 18). Each message carries its grid time, so a late wake-up is
 * charged to the latency in full; how late each burst left is recorded as well.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { clockSince } from './clock.ts';
import { Latencies } from './latency.ts';
import { type PacerInit, SENT_AT, STOP_AT, type ToPacer } from './pacer.ts';
import { type Publisher, StreamPublisher, UdpPublisher } from './publishers.ts';
import type { Hooks } from './receivers.ts';
import { WIRES } from './wire.ts';

/** A wake-up from Atomics.wait comes ~80 µs late (the kernel's timer slack and a wake); the
 * thread wakes this much early and spins the rest. */
const SPIN_US = 150;

const init = workerData as PacerInit;
const shared = new Int32Array(init.shared);
const clockUs = clockSince(init.origin);
const hooks: Hooks = { kick: () => {}, clockUs, latency: null, fail: () => {} };
const pubs: Publisher[] = init.pubs.map(({ id, spec, group }) =>
  spec.kind === 'stream'
    ? new StreamPublisher(id, init.payload, hooks, WIRES[spec.protocol], group, spec.addr)
    : new UdpPublisher(id, init.payload, hooks, spec.addr),
);
const late = new Latencies();
let measureFrom = Number.POSITIVE_INFINITY;

const readyPoll = setInterval(() => {
  if (!pubs.every((p) => p.ready)) return;
  clearInterval(readyPoll);
  parentPort?.postMessage({ type: 'ready' });
}, 5);

parentPort?.on('message', (m: ToPacer) => {
  if (m.type === 'probe') pubs[m.index].probe();
  else if (m.type === 'start') start();
  else if (m.type === 'measure') measureFrom = m.from;
  else if (m.type === 'close') {
    clearInterval(readyPoll);
    for (const p of pubs) p.close();
    parentPort?.close();
  }
});

function start(): void {
  const tickUs = init.tickMs * 1000;
  const perTick = (init.perPublisher * tickUs) / 1e6;
  // A publisher that fell behind catches up at most this many messages per tick.
  const maxBurst = Math.max(1, Math.ceil(init.perPublisher / 10));
  const t0 = clockUs();
  const gridOf = (seq: number) => t0 + Math.floor(seq / perTick) * tickUs;
  const step = (): void => {
    if (Atomics.load(shared, STOP_AT) !== 0) {
      parentPort?.postMessage({ type: 'stopped', late: late.summary() });
      return;
    }
    const now = clockUs();
    const ticks = Math.floor((now - t0) / tickUs) + 1;
    const due = Math.floor(ticks * perTick);
    for (let i = 0; i < pubs.length; i++) {
      const p = pubs[i];
      const n = Math.min(due - p.sent, maxBurst);
      if (n <= 0 || !p.canSend()) continue;
      const first = p.sent;
      if (gridOf(first) >= measureFrom) late.add(now - gridOf(first));
      p.write(n, (k) => gridOf(first + k));
      Atomics.store(shared, SENT_AT + i, p.sent);
    }
    const next = t0 + ticks * tickUs;
    const wait = next - clockUs() - SPIN_US;
    // Blocks this thread only; a stop request wakes it at once.
    if (wait > 0) Atomics.wait(shared, STOP_AT, 0, wait / 1000);
    while (clockUs() < next && Atomics.load(shared, STOP_AT) === 0) {}
    // Yield to the event loop between bursts: socket drains and the runner's messages.
    setImmediate(step);
  };
  step();
}
