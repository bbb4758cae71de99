/**
 * Quick, bounded measurement of TCP fan-out 1:N with 100-byte lines: one sidecar vs two
 * sidecars sharing the group over Redis (publisher on A; receivers on B, or split A/B).
 * Every server is a separate process; this process is the load generator.
 *
 *   node --import tsx test/bench/redis-quick.ts [seconds=5] [receivers=10] [rounds=3]
 *
 * Not part of `npm test`; the full benchmark suite is `npm run bench` (issue 6).
 */
import { connect, type Socket } from 'node:net';
import { startProcess } from '../helpers/process.ts';
import { startRedis } from '../helpers/redis.ts';

const SECONDS = Number(process.argv[2] ?? 5);
const RECEIVERS = Number(process.argv[3] ?? 10);
const ROUNDS = Number(process.argv[4] ?? 3);
const LINE = 100;

function sidecar(extra: string[]) {
  return startProcess(
    process.execPath,
    [
      '--import',
      'tsx',
      'sidecar/main.ts',
      '--tcp-port',
      '0',
      '--udp-port',
      'off',
      '--http-port',
      '0',
      '--log-level',
      'info',
      ...extra,
    ],
    {},
    ['tcp', 'http'],
  );
}

function open(address: string, group: string): Promise<Socket> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const s = connect({
      host: address.slice(0, at),
      port: Number(address.slice(at + 1)),
      noDelay: true,
    });
    s.once('connect', () => {
      s.write(`SOCKETFORWARDER-NEW:${group}\n`);
      resolve(s);
    });
    s.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(pubAt: string, recvAt: string[], group: string) {
  const receivers = await Promise.all(recvAt.map((a) => open(a, group)));
  let received = 0;
  for (const r of receivers)
    r.on('data', (d) => {
      received += d.byteLength;
    });
  const pub = await open(pubAt, group);
  await sleep(300);
  const line = `${'x'.repeat(LINE - 1)}\n`;
  const chunk = Buffer.from(line.repeat(640));
  let sent = 0;
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
  const sendEnd = performance.now();
  // Let what is in flight arrive (bounded wait).
  const want = sent * receivers.length;
  const deadline = Date.now() + 15_000;
  let last = -1;
  while (received < want && Date.now() < deadline) {
    await sleep(100);
    if (received === last && Date.now() > deadline - 13_000) break;
    last = received;
  }
  const elapsed = (Math.max(sendEnd, performance.now() - 0) - t0) / 1000;
  for (const s of [...receivers, pub]) s.destroy();
  const deliveries = received / LINE;
  return {
    deliveriesPerSec: deliveries / ((sendEnd - t0) / 1000),
    lossPct: (100 * (want - received)) / want,
    elapsed,
  };
}

const redis = await startRedis();
const single = await sidecar([]);
const a = await sidecar(['--redis', redis.url, '--node-id', 'A']);
const b = await sidecar(['--redis', redis.url, '--node-id', 'B']);
const results: Record<string, number[]> = { single: [], 'cluster A->B': [], 'cluster A->A+B': [] };
const loss: Record<string, number[]> = { single: [], 'cluster A->B': [], 'cluster A->A+B': [] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    const cases: [string, string, string[]][] = [
      ['single', single.addresses.tcp, Array(RECEIVERS).fill(single.addresses.tcp)],
      ['cluster A->B', a.addresses.tcp, Array(RECEIVERS).fill(b.addresses.tcp)],
      [
        'cluster A->A+B',
        a.addresses.tcp,
        Array.from({ length: RECEIVERS }, (_, i) => (i % 2 ? b.addresses.tcp : a.addresses.tcp)),
      ],
    ];
    for (const [name, pubAt, recv] of cases) {
      const r = await run(pubAt, recv, `bench-${name.replace(/\W+/g, '')}-${round}`);
      results[name].push(r.deliveriesPerSec);
      loss[name].push(r.lossPct);
      console.log(
        `round ${round + 1} ${name.padEnd(16)} ${(r.deliveriesPerSec / 1e6).toFixed(2)}M deliveries/s, loss ${r.lossPct.toFixed(2)}%`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const base = median(results.single);
  console.log(`\n1:${RECEIVERS}, ${LINE}-byte lines, ${SECONDS}s x ${ROUNDS} rounds, medians:`);
  for (const name of Object.keys(results)) {
    const m = median(results[name]);
    console.log(
      `${name.padEnd(16)} ${(m / 1e6).toFixed(2)}M deliveries/s  ${(m / base).toFixed(2)}x single  loss ${median(loss[name]).toFixed(2)}%`,
    );
  }
  const metrics = await (await fetch(`http://${a.addresses.http}/metrics`)).text();
  console.log(
    metrics
      .split('\n')
      .filter((l) => l.startsWith('groupcast_backplane'))
      .join('\n'),
  );
} finally {
  await Promise.all([single.stop(), a.stop(), b.stop()]);
  await redis.stop();
}
