/**
 * Quick, bounded measurement of TCP fan-out 1:N with 100-byte lines: one sidecar against two
 * sidecars sharing the group over Redis (publisher on A; receivers all on B, or split A/B).
 * Every server is its own process; this process is the load generator. Besides deliveries/s it
 * reports the CPU time the servers spent per delivery (from /proc; split as sidecar, or A + B +
 * redis-server), which other load on the machine disturbs less than wall-clock rates.
 *
 *   node --import tsx test/bench/redis-quick.ts [seconds=5] [receivers=10] [rounds=3]
 *
 * Not part of `npm test`; the full benchmark suite is `npm run bench` (issue 6).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { type Started, startProcess } from '../helpers/process.ts';
import { startRedis } from '../helpers/redis.ts';

const SECONDS = Number(process.argv[2] ?? 5);
const RECEIVERS = Number(process.argv[3] ?? 10);
const ROUNDS = Number(process.argv[4] ?? 3);
const LINE = 100;
const TICK_US = 1e6 / 100; // USER_HZ

function sidecar(extra: string[]): Promise<Started> {
  const args = ['--import', 'tsx', 'sidecar/main.ts', '--tcp-port', '0', '--udp-port', 'off'];
  args.push('--http-port', '0', '--log-level', 'warn', ...extra);
  return startProcess(process.execPath, args, {}, ['tcp', 'http']);
}

/** CPU time (user + system, µs) a process has used so far. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

function open(address: string, group: string): Promise<Socket> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: Number(address.slice(at + 1)), noDelay: true });
    s.once('connect', () => {
      s.write(`SOCKETFORWARDER-NEW:${group}\n`);
      resolve(s);
    });
    s.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  rate: number;
  lossPct: number;
  cpuNsPerDelivery: number;
  /** Per server process (same order as `pids`). */
  split: number[];
}

async function run(
  pubAt: string,
  recvAt: string[],
  group: string,
  pids: number[],
): Promise<Result> {
  const receivers = await Promise.all(recvAt.map((a) => open(a, group)));
  let received = 0;
  for (const r of receivers) r.on('data', (d: Buffer) => (received += d.byteLength));
  const pub = await open(pubAt, group);
  await sleep(300);
  const chunk = Buffer.from(`${'x'.repeat(LINE - 1)}\n`.repeat(640));
  let sent = 0;
  const cpu0 = pids.reduce((n, p) => n + cpuUs(p), 0);
  const cpu0s = pids.map(cpuUs);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (performance.now() < end) {
        sent += chunk.byteLength;
        if (!pub.write(chunk)) {
          pub.once('drain', pump);
          return;
        }
      }
      resolve();
    };
    pump();
  });
  // What is in flight arrives; stop waiting once nothing more comes (a member may have been cut).
  const want = sent * receivers.length;
  let last = -1;
  for (let i = 0; i < 150 && received < want && received !== last; i++) {
    last = received;
    await sleep(100);
  }
  const t1 = performance.now();
  const cpu1 = pids.reduce((n, p) => n + cpuUs(p), 0);
  const split = pids.map((p, i) => ((cpuUs(p) - cpu0s[i]) * 1000) / (received / LINE));
  for (const s of [...receivers, pub]) s.destroy();
  const deliveries = received / LINE;
  return {
    rate: deliveries / ((t1 - t0) / 1000),
    lossPct: (100 * (want - received)) / want,
    cpuNsPerDelivery: ((cpu1 - cpu0) * 1000) / deliveries,
    split,
  };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const redis = await startRedis();
const single = await sidecar([]);
const a = await sidecar(['--redis', redis.url, '--node-id', 'A']);
const b = await sidecar(['--redis', redis.url, '--node-id', 'B']);
const pid = (s: Started) => s.child.pid as number;
const cases: [string, string, string[], number[]][] = [
  ['single', single.addresses.tcp, Array(RECEIVERS).fill(single.addresses.tcp), [pid(single)]],
  [
    'cluster A->B',
    a.addresses.tcp,
    Array(RECEIVERS).fill(b.addresses.tcp),
    [pid(a), pid(b), redis.pid],
  ],
  [
    'cluster A->A+B',
    a.addresses.tcp,
    Array.from({ length: RECEIVERS }, (_, i) => (i % 2 ? b.addresses.tcp : a.addresses.tcp)),
    [pid(a), pid(b), redis.pid],
  ],
];
const results = new Map<string, Result[]>(cases.map(([name]) => [name, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, pubAt, recv, pids] of cases) {
      const r = await run(pubAt, recv, `bench-${round}-${name.replace(/\W+/g, '')}`, pids);
      results.get(name)?.push(r);
      console.log(
        `round ${round + 1} ${name.padEnd(15)} ${(r.rate / 1e6).toFixed(2)}M deliveries/s, loss ${r.lossPct.toFixed(2)}%, ${r.cpuNsPerDelivery.toFixed(0)} ns server CPU per delivery (${r.split.map((x) => x.toFixed(0)).join(' + ')})`,
      );
    }
  }
  const base = median((results.get('single') ?? []).map((r) => r.rate));
  const baseCpu = median((results.get('single') ?? []).map((r) => r.cpuNsPerDelivery));
  console.log(`\n1:${RECEIVERS}, ${LINE}-byte lines, ${SECONDS} s x ${ROUNDS} rounds, medians:`);
  for (const [name, rs] of results) {
    const rate = median(rs.map((r) => r.rate));
    const cpu = median(rs.map((r) => r.cpuNsPerDelivery));
    console.log(
      `${name.padEnd(15)} ${(rate / 1e6).toFixed(2)}M deliveries/s (${(rate / base).toFixed(2)}x single), loss ${median(rs.map((r) => r.lossPct)).toFixed(2)}%, server CPU ${cpu.toFixed(0)} ns/delivery (${(cpu / baseCpu).toFixed(2)}x single)`,
    );
  }
  for (const [name, sc] of [
    ['A', a],
    ['B', b],
  ] as const) {
    const text = await (await fetch(`http://${sc.addresses.http}/metrics`)).text();
    const lines = text
      .split('\n')
      .filter((l) => /^groupcast_(backplane|slow_consumer)/.test(l) && !/ 0$/.test(l));
    console.log(`node ${name}: ${lines.join('; ')}`);
  }
} finally {
  await Promise.all([single.stop(), a.stop(), b.stop()]);
  await redis.stop();
}
