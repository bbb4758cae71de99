/**
 * Runs one FlowJob inside a load worker: connect every member, prove each receives (a probe per
 * publisher), then publish for warmup + measure, drain, and check that every receiver got every
 * message it was owed. Every wait is bounded in time.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { clockSince } from './clock.ts';
import type { FlowJob, FlowResult } from './job.ts';
import { Latencies } from './latency.ts';
import { PacedPublisher, Pacer, type SendLateness } from './pacer.ts';
import { HttpPublisher, type Publisher, StreamPublisher, UdpPublisher } from './publishers.ts';
import {
  type Hooks,
  type Receiver,
  SseReceiver,
  StreamReceiver,
  UdpReceiver,
} from './receivers.ts';
import { WIRES } from './wire.ts';

export interface FlowIo {
  mark(at: 'start' | 'end'): void;
  /** Memory scenario: every member is connected and receiving; resolves when released. */
  held(connections: number): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CONNECT_BATCH = 200;
const READY_MS = 60_000;
const PROBE_EVERY_MS = 250;
const PROBE_TRIES = 40;
let jobCounter = 0;
/** Fixed-rate senders publish in bursts this far apart. */
const DEFAULT_TICK_MS = 1;

async function until(cond: () => boolean, ms: number, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

export async function runFlow(job: FlowJob, io: FlowIo): Promise<FlowResult> {
  const tag = `b${process.pid.toString(36)}${(++jobCounter).toString(36)}`;
  const origin = process.hrtime.bigint();
  let failure: Error | null = null;
  let scheduled = false;
  let sending = false;
  let pump: () => void = () => {};
  const hooks: Hooks = {
    kick: () => {
      if (!scheduled && sending && job.pace.kind === 'window') {
        scheduled = true;
        setImmediate(pump);
      }
    },
    clockUs: clockSince(origin),
    latency: null,
    fail: (err) => {
      failure ??= err;
    },
  };
  const totalPubs = job.groups * job.publishers;
  const pubs: Publisher[] = [];
  const recvs: Receiver[] = [];
  const { pub, sub } = job;
  // Fixed-rate publishers send from a thread of their own (pacer-thread.ts), on connections
  // of their own.
  const pace = job.pace;
  const paced = pace.kind === 'rate';
  if (paced && pub.kind === 'http') return failed('fixed-rate pace needs TCP or UDP publishers');
  let pacer: Pacer | null = null;
  const combined =
    !paced &&
    job.combined &&
    pub.kind === 'stream' &&
    sub.kind === 'stream' &&
    WIRES[sub.protocol].combined;
  let addrTurn = 0;
  const subAddr = () => sub.addrs[addrTurn++ % sub.addrs.length];

  const makeReceiver = (group: string): Receiver => {
    if (sub.kind === 'stream') {
      return new StreamReceiver(
        subAddr(),
        WIRES[sub.protocol],
        group,
        job.payload,
        totalPubs,
        hooks,
      );
    }
    if (sub.kind === 'sse') return new SseReceiver(subAddr(), sub.flavor, group, totalPubs, hooks);
    return new UdpReceiver(subAddr(), totalPubs, hooks);
  };

  try {
    // Receivers first, in batches, so a server sees a realistic connect rate.
    const plan: { group: string; groupPubs: number[]; member: Receiver[] }[] = [];
    for (let g = 0; g < job.groups; g++) {
      const group = `${tag}g${String(g).padStart(4, '0')}`;
      plan.push({ group, groupPubs: [], member: [] });
    }
    const pending: (() => Receiver)[] = [];
    for (const p of plan) {
      for (let i = 0; i < job.receivers; i++) pending.push(() => makeReceiver(p.group));
    }
    for (let i = 0; i < pending.length; i += CONNECT_BATCH) {
      const batch = pending.slice(i, i + CONNECT_BATCH).map((f) => f());
      recvs.push(...batch);
      if (!(await until(() => batch.every((r) => r.ready) || failure !== null, READY_MS))) {
        throw new Error(`${batch.filter((r) => !r.ready).length} receivers did not connect/join`);
      }
      if (failure) throw failure;
    }
    plan.forEach((p, g) => {
      p.member = recvs.slice(g * job.receivers, (g + 1) * job.receivers);
    });

    // Publishers (members that also receive, in the member model).
    if (pace.kind === 'rate' && pub.kind !== 'http') {
      pacer = new Pacer(
        {
          origin,
          payload: job.payload,
          perPublisher: pace.perPublisher,
          tickMs: pace.tickMs ?? DEFAULT_TICK_MS,
          pubs: plan.flatMap((p, g) =>
            Array.from({ length: job.publishers }, (_, i) => ({
              id: g * job.publishers + i,
              spec: pub,
              group: p.group,
            })),
          ),
        },
        hooks.fail,
      );
    }
    for (let g = 0; g < plan.length; g++) {
      const { group } = plan[g];
      for (let i = 0; i < job.publishers; i++) {
        const id = g * job.publishers + i;
        let p: Publisher;
        if (pacer) {
          p = new PacedPublisher(id, job.payload, hooks, pacer, id);
        } else if (pub.kind === 'stream' && combined) {
          const rx = makeReceiver(group) as StreamReceiver;
          recvs.push(rx);
          plan[g].member.push(rx);
          p = new StreamPublisher(
            id,
            job.payload,
            hooks,
            WIRES[pub.protocol],
            group,
            pub.addr,
            rx.socket,
          );
          p.self = rx;
        } else if (pub.kind === 'stream') {
          p = new StreamPublisher(id, job.payload, hooks, WIRES[pub.protocol], group, pub.addr);
        } else if (pub.kind === 'http') {
          p = new HttpPublisher(id, job.payload, hooks, pub.flavor, group, pub.addr, pub.batch);
        } else p = new UdpPublisher(id, job.payload, hooks, pub.addr);
        pubs.push(p);
        plan[g].groupPubs.push(id);
      }
    }
    if (!(await until(() => pubs.every((p) => p.ready) && recvs.every((x) => x.ready), READY_MS))) {
      throw new Error('publishers did not connect');
    }
    // Who hears whom.
    for (const p of plan) {
      for (const rx of p.member) {
        const self = pubs.find((q) => q.self === rx);
        rx.feeders = p.groupPubs.filter((id) => pubs[id] !== self);
        for (const id of rx.feeders) pubs[id].receivers.push(rx);
      }
    }
    await sleep(20);
    // Probe until every receiver has heard every publisher it should: the joins are in effect.
    let tries = 0;
    for (; tries < PROBE_TRIES; tries++) {
      if (recvs.every((x) => x.hasAllProbes())) break;
      for (const x of recvs) if (x instanceof UdpReceiver) x.register();
      if (tries > 0 || !(recvs[0] instanceof UdpReceiver)) {
        for (const p of pubs) if (p.receivers.some((x) => !x.hasProbe(p.id))) p.probe();
      }
      await until(() => recvs.every((x) => x.hasAllProbes()), PROBE_EVERY_MS);
      if (failure) throw failure;
    }
    if (tries === PROBE_TRIES) {
      const missing = recvs.filter((x) => !x.hasAllProbes()).length;
      throw new Error(`${missing} of ${recvs.length} receivers never got the readiness probe`);
    }
    await sleep(30);
    if (!job.fullCheck) for (const x of recvs) if (x instanceof StreamReceiver) x.countOnly();
    const connections = recvs.length + pubs.filter((p) => !p.self).length;

    if (job.hold) {
      await io.held(connections);
      return result(recvs, pubs, null, null, 0, connections, failure);
    }

    // Publish.
    const slow = job.slowReceiver ? plan[0].member[0] : null;
    // A publisher alone in a fan-out hears nobody: it is not a receiver of this job.
    const counted = recvs.filter((x) => x !== slow && x.feeders.length > 0);
    const recordBytes = job.payload + 32;
    const limit =
      pace.kind === 'window' ? Math.max(4, Math.floor(pace.windowBytes / recordBytes)) : 0;
    const burst =
      pace.kind === 'window' ? Math.max(1, Math.floor(pace.burstBytes / recordBytes)) : 0;
    pump = (): void => {
      scheduled = false;
      if (!sending) return;
      for (const p of pubs) {
        for (let round = 0; round < 4 && p.canSend(); round++) {
          let room = Math.min(burst, p.maxSend);
          for (const x of p.receivers) {
            if (x === slow || x.closed) continue;
            const r2 = limit - (x.expected - x.count());
            if (r2 < room) room = r2;
          }
          room -= room % p.batch;
          if (room < Math.min(burst, p.maxSend, Math.max(p.batch, limit >> 3))) break;
          p.send(room);
        }
      }
    };
    const safety = setInterval(() => hooks.kick(), 5);
    sending = true;
    if (pacer) pacer.post({ type: 'start' });
    else pump();
    await sleep(job.warmupMs);
    if (slow) slow.pause();
    const before = snapshot(counted, pubs);
    const cpu0 = process.cpuUsage();
    hooks.latency = {
      from: hooks.clockUs(),
      to: Number.POSITIVE_INFINITY,
      samples: new Latencies(),
    };
    pacer?.post({ type: 'measure', from: hooks.latency.from });
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    io.mark('start');
    const w0 = performance.now();
    await sleep(job.measureMs);
    const seconds = (performance.now() - w0) / 1000;
    const after = snapshot(counted, pubs);
    const cpu1 = process.cpuUsage(cpu0);
    hooks.latency.to = hooks.clockUs();
    io.mark('end');
    lag.disable();
    sending = false;
    clearInterval(safety);
    const sendLate: SendLateness | undefined = await pacer?.stop();
    // Drain: stop when every receiver has what it is owed, or nothing moves for a while.
    const deadline = Date.now() + job.drainMs;
    let lastTotal = -1;
    let still = Date.now();
    while (Date.now() < deadline) {
      for (const p of pubs) p.sync();
      if (counted.every((x) => x.count() >= x.expected)) break;
      const total = counted.reduce((s, x) => s + x.count(), 0);
      if (total !== lastTotal) {
        lastTotal = total;
        still = Date.now();
      } else if (Date.now() - still > 700) break;
      await sleep(10);
    }
    let slowCut: boolean | undefined;
    if (slow) {
      slow.resume();
      slowCut = await slow.closedWithin(3000);
    }
    const res = result(counted, pubs, before, after, seconds, connections, failure);
    res.workerCpu = (cpu1.user + cpu1.system) / 1e6;
    res.latency = job.fullCheck ? hooks.latency.samples.summary() : undefined;
    res.slowCut = slowCut;
    res.loopDelayMaxMs = lag.max / 1e6;
    res.sendLate = sendLate;
    return res;
  } catch (err) {
    return failed((err as Error).message);
  } finally {
    sending = false;
    pacer?.close();
    for (const p of pubs) p.close();
    for (const x of recvs) x.close();
  }
}

interface Snap {
  counts: number[];
  accepted: number;
  posts: number;
}

function snapshot(recvs: Receiver[], pubs: Publisher[]): Snap {
  for (const p of pubs) p.sync();
  return {
    counts: recvs.map((x) => x.count()),
    accepted: pubs.reduce((s, p) => s + p.accepted, 0),
    posts: pubs.reduce((s, p) => s + p.posts, 0),
  };
}

const failed = (error: string): FlowResult => ({ ...emptyResult(), ok: false, error });

function emptyResult(): FlowResult {
  return {
    ok: true,
    seconds: 0,
    delivered: 0,
    published: 0,
    posts: 0,
    expected: 0,
    received: 0,
    orderErrors: 0,
    httpErrors: 0,
    receivers: 0,
    minReceiverRate: 0,
    maxReceiverRate: 0,
    workerCpu: 0,
    connections: 0,
  };
}

function result(
  recvs: Receiver[],
  pubs: Publisher[],
  before: Snap | null,
  after: Snap | null,
  seconds: number,
  connections: number,
  failure: Error | null,
): FlowResult {
  for (const p of pubs) p.sync();
  const r = emptyResult();
  r.connections = connections;
  r.receivers = recvs.length;
  r.seconds = seconds;
  r.expected = recvs.reduce((s, x) => s + x.expected, 0);
  r.received = recvs.reduce((s, x) => s + Math.min(x.count(), x.expected), 0);
  r.orderErrors = recvs.reduce((s, x) => s + x.orderErrors, 0);
  const extra = recvs.reduce((s, x) => s + Math.max(0, x.count() - x.expected), 0);
  r.orderErrors += extra;
  r.httpErrors = pubs.reduce((s, p) => s + p.errors, 0);
  if (before && after && seconds > 0) {
    let delivered = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (let i = 0; i < after.counts.length; i++) {
      const d = after.counts[i] - before.counts[i];
      delivered += d;
      if (d < min) min = d;
      if (d > max) max = d;
    }
    r.delivered = delivered;
    r.minReceiverRate = min / seconds;
    r.maxReceiverRate = max / seconds;
    r.published = after.accepted - before.accepted;
    r.posts = after.posts - before.posts;
  }
  if (failure) {
    r.ok = false;
    r.error = failure.message;
  }
  return r;
}
