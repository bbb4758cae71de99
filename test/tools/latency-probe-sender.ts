/**
 * The probe's sender thread: one publisher at a fixed rate in 1 ms bursts, as the bench's pacer
 * thread sends (sleep in Atomics.wait, spin the last PROBE_SPIN µs), recording when each burst
 * left so the sender's own lateness can be split off each message's latency.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { clockSince } from '../bench/load/clock.ts';
import { StreamPublisher } from '../bench/load/publishers.ts';
import type { Hooks } from '../bench/load/receivers.ts';
import { WIRES } from '../bench/load/wire.ts';
import type { StreamProtocol } from '../bench/targets/types.ts';

const { origin, addr, group, rate, ticks, sentAt, control, wire } = workerData as {
  origin: bigint;
  addr: { host: string; port: number };
  group: string;
  rate: number;
  ticks: number;
  sentAt: SharedArrayBuffer;
  control: SharedArrayBuffer;
  wire: StreamProtocol;
};
const SPIN_US = Number(process.env.PROBE_SPIN ?? 150);
const clockUs = clockSince(origin);
const hooks: Hooks = { kick: () => {}, clockUs, latency: null, fail: () => {} };
const pub = new StreamPublisher(0, 100, hooks, WIRES[wire], group, addr);
const sent = new Float64Array(sentAt);
/** [0]: start flag (set by the probe), [1]: never set, slept on between bursts. */
const ctl = new Int32Array(control);

while (!pub.ready) await new Promise((r) => setTimeout(r, 5));
// Readiness probes until the probe says go: a join may land after the first one.
while (Atomics.load(ctl, 0) === 0) {
  pub.probe();
  Atomics.wait(ctl, 0, 0, 50);
}
const perTick = rate / 1000;
const t0 = clockUs();
let tick = 0;
const step = (): void => {
  if (tick >= ticks) {
    parentPort?.postMessage({ t0 });
    return;
  }
  const grid = t0 + tick * 1000;
  sent[tick] = clockUs();
  pub.write(perTick, () => grid);
  tick++;
  const next = t0 + tick * 1000;
  const wait = next - clockUs() - SPIN_US;
  if (wait > 0) Atomics.wait(ctl, 1, 0, wait / 1000);
  while (clockUs() < next) {}
  setImmediate(step);
};
step();
