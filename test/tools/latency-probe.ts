/**
 * Where a latency tail comes from (issue 18). One publisher at 10k msg/s on a thread of its own
 * (latency-probe-sender.ts), ten receivers on this thread (the bench's StreamReceiver), one
 * server, run with latency-probe-stamps.mjs preloaded (not redis). Each message's latency is
 * split into: sender late (burst left - grid time), in (-> the server's read), residence (read
 * -> the server's first write of that tick), spread (first -> last write) and out (first write
 * -> this receiver's read). Prints one JSON line. Bounded: `seconds` + 0.5 s of sending, then everything stops.
 *
 *   node --import tsx test/tools/latency-probe.ts groupcast|forwarder|redis [seconds]
 *   (npm run build first; PROBE_N receivers, PROBE_RATE msg/s, PROBE_SPIN µs; wrap in `chrt -f 1`
 *   to run everything under SCHED_FIFO.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { clockSince } from '../bench/load/clock.ts';
import { type Hooks, StreamReceiver } from '../bench/load/receivers.ts';
import { WIRES } from '../bench/load/wire.ts';
import { ROOT } from '../bench/procs.ts';

const target = process.argv[2] ?? 'groupcast';
const seconds = Math.min(30, Number(process.argv[3] ?? 3));
const N = Number(process.env.PROBE_N ?? 10);
const RATE = Number(process.env.PROBE_RATE ?? 10_000);
const WARM_TICKS = 500;
const ticks = Math.round(seconds * 1000) + WARM_TICKS;
const origin = process.hrtime.bigint();
const clockUs = clockSince(origin);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const here = import.meta.dirname;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port}`);
}

const out = join(tmpdir(), `latency-probe-${process.pid}`);
const port = await freePort();
const stamped = ['--import', join(here, 'latency-probe-stamps.mjs')];
const env = { ...process.env, PROBE_OUT: out, PROBE_ORIGIN: String(origin) };
let server: ChildProcess;
if (target === 'groupcast') {
  server = spawn(process.execPath, [...stamped, 'sidecar/bin.js'], {
    cwd: ROOT,
    stdio: 'ignore',
    env: {
      ...env,
      GROUPCAST_HOST: '127.0.0.1',
      GROUPCAST_TCP_PORT: String(port),
      GROUPCAST_UDP_PORT: String(await freePort()),
      GROUPCAST_HTTP_PORT: String(await freePort()),
      GROUPCAST_RESP_PORT: 'off',
      GROUPCAST_LOG_LEVEL: 'warn',
    },
  });
} else if (target === 'forwarder') {
  const file = join(ROOT, 'test/bench/targets/forwarder.ts');
  server = spawn(process.execPath, ['--import', 'tsx', ...stamped, file], {
    stdio: 'ignore',
    env: { ...env, PORT: String(port) },
  });
} else {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  server = spawn('redis-server', args, { stdio: 'ignore' });
}
const stopServer = setTimeout(() => server.kill('SIGKILL'), (seconds + 60) * 1000);
await waitForPort(port);
const wire = target === 'redis' ? 'redis' : 'line';
const addr = { host: '127.0.0.1', port };
const group = `probe${process.pid}`;

/** Per receiver: (send time, read time) pairs. */
const recs: number[][] = [];
const rxs: StreamReceiver[] = [];
for (let i = 0; i < N; i++) {
  const r: number[] = [];
  recs.push(r);
  let now = 0;
  const hooks: Hooks = {
    kick: () => {},
    clockUs: () => {
      now = clockUs();
      return now;
    },
    fail: (err) => {
      throw err;
    },
    latency: {
      from: 0,
      to: Number.POSITIVE_INFINITY,
      samples: { add: (d: number) => r.push(now - d, now) } as never,
    },
  };
  const rx = new StreamReceiver(addr, WIRES[wire], group, 100, 1, hooks);
  rx.feeders = [0];
  rxs.push(rx);
}
while (!rxs.every((r) => r.ready)) await sleep(5);

const sentAt = new SharedArrayBuffer(8 * ticks);
const control = new SharedArrayBuffer(8);
const ctl = new Int32Array(control);
const boot = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(new URL('./latency-probe-sender.ts', import.meta.url).href)});`;
const sender = new Worker(boot, {
  eval: true,
  workerData: { origin, addr, group, rate: RATE, ticks, sentAt, control, wire },
});
for (let i = 0; i < 400 && !rxs.every((r) => r.hasAllProbes()); i++) await sleep(25);
if (!rxs.every((r) => r.hasAllProbes())) throw new Error('receivers never got the probe');
Atomics.store(ctl, 0, 1);
Atomics.notify(ctl, 0);
const { t0 } = await new Promise<{ t0: number }>((resolve) => sender.on('message', resolve));
await sleep(300);
await sender.terminate();
for (const r of rxs) r.close();
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
clearTimeout(stopServer);

const take = <T>(file: string, parse: (b: Buffer) => T, none: T): T => {
  if (!existsSync(file)) return none;
  const v = parse(readFileSync(file));
  rmSync(file);
  return v;
};
const gcs: { kind: number; t: number; d: number }[] = take(
  `${out}.gc.json`,
  (b) => JSON.parse(b.toString()),
  [],
);
const sched: number[] = take(`${out}.sched.json`, (b) => JSON.parse(b.toString()), []);
const io = take(
  `${out}.io`,
  (b) => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)),
  new Float64Array(0),
);

const sent = new Float64Array(sentAt);
const from = t0 + WARM_TICKS * 1000;
const to = t0 + ticks * 1000;
const tickOf = (t: number) => Math.round((t - t0) / 1000);
const read = new Float64Array(ticks + 1).fill(Number.POSITIVE_INFINITY);
const w1 = new Float64Array(ticks + 1).fill(Number.POSITIVE_INFINITY);
const wn = new Float64Array(ticks + 1);
for (let i = 0; i + 2 < io.length; i += 3) {
  const k = tickOf(io[i + 1]);
  if (k < 0 || k > ticks) continue;
  if (io[i] === 0) read[k] = Math.min(read[k], io[i + 2]);
  else {
    w1[k] = Math.min(w1[k], io[i + 2]);
    wn[k] = Math.max(wn[k], io[i + 2]);
  }
}
type Row = {
  t: number;
  lat: number;
  late: number;
  in: number;
  res: number;
  spread: number;
  out: number;
};
const rows: Row[] = [];
for (const r of recs) {
  for (let i = 0; i < r.length; i += 2) {
    const t = r[i];
    if (t < from || t >= to) continue;
    const k = tickOf(t);
    const at = r[i + 1];
    rows.push({
      t,
      lat: at - t,
      late: sent[k] - t,
      in: read[k] - sent[k],
      res: w1[k] - read[k],
      spread: wn[k] - w1[k],
      out: at - w1[k],
    });
  }
}
rows.sort((a, b) => a.lat - b.lat);
const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const lats = rows.map((r) => r.lat);
const p99 = q(lats, 0.99);
const tail = rows.filter((r) => r.lat >= p99);
const mean = (xs: number[]) => Math.round(xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length));
const parts = ['late', 'in', 'res', 'spread', 'out'] as const;
const split = (rs: Row[]) => Object.fromEntries(parts.map((p) => [p, mean(rs.map((r) => r[p]))]));
const inWindow = gcs.filter((g) => g.t >= from && g.t < to);
const duringGc = tail.filter((r) =>
  inWindow.some((g) => g.t + g.d >= r.t && g.t <= r.t + r.lat),
).length;
const late = [...sent.subarray(WARM_TICKS)]
  .map((s, i) => s - (t0 + (i + WARM_TICKS) * 1000))
  .sort((a, b) => a - b);
const res = rows
  .map((r) => r.res)
  .filter(Number.isFinite)
  .sort((a, b) => a - b);
// Read -> first write windows over 300 µs: how long the main thread ran, how long it waited.
const slow: string[] = [];
for (let i = 0; i + 7 < sched.length; i += 4) {
  if (sched[i] !== 0 || sched[i + 4] !== 1 || sched[i + 1] < from) continue;
  const wall = sched[i + 5] - sched[i + 1];
  if (wall > 300)
    slow.push(
      `${Math.round(wall)} (ran ${Math.round(sched[i + 6] - sched[i + 2])}, waited ${Math.round(sched[i + 7] - sched[i + 3])})`,
    );
}
const expected = N * (RATE / 1000) * ticks;
const got = recs.reduce((s, r) => s + r.length / 2, 0);
console.log(
  JSON.stringify({
    target,
    received: `${got}/${expected}`,
    p50: Math.round(q(lats, 0.5)),
    p99: Math.round(p99),
    p999: Math.round(q(lats, 0.999)),
    max: Math.round(lats[lats.length - 1]),
    senderLate: { p50: Math.round(q(late, 0.5)), p99: Math.round(q(late, 0.99)) },
    split: io.length ? { all: split(rows), tail: split(tail) } : null,
    residence: res.length
      ? { p99: Math.round(q(res, 0.99)), p999: Math.round(q(res, 0.999)) }
      : null,
    gc: {
      count: inWindow.length,
      meanUs: mean(inWindow.map((g) => g.d)),
      maxUs: Math.round(Math.max(0, ...inWindow.map((g) => g.d))),
      tailDuringGc: `${duringGc}/${tail.length}`,
    },
    slowWindows: slow,
  }),
);
process.exit(0);
