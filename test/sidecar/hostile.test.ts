import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, type Started, startProcess } from '../helpers/process.ts';
import { hostPort, sleep, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';
import { TcpPeer } from '../helpers/tcp.ts';
import { UdpPeer } from '../helpers/udp.ts';

/** The sidecar may grow by at most this much under the attack (measured: about 18 MiB). */
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024;
/**
 * On top of it, a maximum-size NDJSON body (16 MiB) may cost up to 4x its size while it is
 * handled and held in history (issue 12's target; measured alone: 20-26 MiB).
 */
const NDJSON_BUDGET = 4 * 16 * 1024 * 1024;

function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process has gone: the test's own assertions say why
  }
}

/** Datagrams the kernel dropped for a UDP socket bound to `address` (its receive buffer was full). */
function udpDrops(address: string): number {
  const port = hostPort(address).port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${port}`)) return Number(f.at(-1));
  }
  return 0;
}

/** The kernel's cap on a listener's accept queue (Linux). */
function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8')) || 4096;
  } catch {
    return 4096;
  }
}

async function acceptedTcp(http: string): Promise<number> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const m = /^groupcast_connections_accepted_total\{transport="tcp"\} (\d+)$/m.exec(text);
  assert.ok(m, 'groupcast_connections_accepted_total in /metrics');
  return Number(m[1]);
}

/** One request with node:http (its own connection); resolves with the status and the body. */
function httpCall(
  address: string,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string | number> = {},
): Promise<{ status: number; text: string }> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end(body);
  });
}

let sidecar: Started;
let sampler: ReturnType<typeof setInterval> | undefined;
const open: { close(): void }[] = [];

test.after(async () => {
  clearInterval(sampler);
  for (const p of open.splice(0)) p.close();
  await sidecar?.stop();
});

test('under a flood of hostile clients, good members get every message and memory stays bounded', async () => {
  sidecar = await startProcess(
    process.execPath,
    [join(ROOT, 'sidecar', 'bin.js'), 'serve'],
    {
      GROUPCAST_HOST: '127.0.0.1',
      GROUPCAST_TCP_PORT: '0',
      GROUPCAST_UDP_PORT: '0',
      GROUPCAST_HTTP_PORT: '0',
      GROUPCAST_RESP_PORT: 'off',
      GROUPCAST_LOG_LEVEL: 'error',
      GROUPCAST_JOIN_TIMEOUT: '1s',
      // Strict joins: with the SocketForwarder quiet wait, a trickle that pauses 50 ms (a busy
      // machine) is a legacy join, not an attack (docs/security.md, Strict joins).
      GROUPCAST_LEGACY_JOIN_WAIT: '0',
      GROUPCAST_MAX_MESSAGE_BYTES: '64KiB',
      GROUPCAST_UDP_REGISTERED_ONLY: 'true',
      // The well-behaved group is the UDP group, so it has a UDP member too.
      GROUPCAST_UDP_GROUP: 'lobby',
      // The registration flood's addresses are members too (they take a share of the group's
      // send rate): a small cap keeps the good traffic well under udpSendRate.
      GROUPCAST_UDP_REGISTRATIONS_PER_IP: '4',
    },
    ['tcp', 'udp', 'http'],
  );
  const { tcp, udp, http } = sidecar.addresses;
  const pid = sidecar.child.pid as number;
  await sleep(300);
  const baseline = rss(pid);
  let peak = baseline;
  sampler = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 50);

  // The well-behaved group.
  const sender = await TcpPeer.open(tcp, 'lobby');
  const receiver = await TcpPeer.open(tcp, 'lobby');
  const watcher = await SseClient.open(`http://${http}/groups/lobby/events`);
  open.push(sender, receiver, watcher);
  await waitFor(async () => {
    const g = await (await fetch(`http://${http}/groups/lobby`)).json();
    return g.counts?.tcp === 2 && g.counts?.sse === 1;
  });
  // The NDJSON bodies are built before the clock starts: the test's own work is not the attack.
  const tinyLines = Buffer.from('1\n'.repeat(8_000_000));
  const batchLines = 10_000;
  const batch = Buffer.from(`"${'x'.repeat(1600)}"\n`.repeat(batchLines));

  type Hostile = { kind: string; peer: TcpPeer; error?: string };
  const attackers: Promise<unknown>[] = [];
  const hostile: Hostile[] = [];
  const connect = async (kind: string) => {
    const entry: Hostile = { kind, peer: new TcpPeer(tcp) };
    hostile.push(entry);
    await entry.peer.connected().catch((err: Error) => {
      entry.error = err.message;
    });
    return entry.peer;
  };
  const kinds: [string, number, (p: TcpPeer) => unknown][] = [
    // Garbage instead of a join line.
    ['garbage', 300, (p) => p.write(randomBytes(4096))],
    // Half-open: connect and say nothing.
    ['half-open', 300, () => {}],
    // Slowloris: a join line that keeps coming, a byte at a time, and never ends.
    [
      'slowloris',
      50,
      async (p) => {
        // 100 bytes, 20 ms apart: it would take 2 s, twice the join timeout.
        for (const ch of `SOCKETFORWARDER-NEW:slowloris${'-'.repeat(70)}`) {
          if (p.closed) return;
          p.write(ch);
          await sleep(20);
        }
      },
    ],
    // Oversized lines after a valid join.
    [
      'oversized',
      20,
      (p) => {
        p.write('SOCKETFORWARDER-NEW:junk\n');
        p.write(Buffer.alloc(200 * 1024, 120));
      },
    ],
  ];
  // The connections come in waves no larger than half the kernel's accept queue, each let in
  // before the next: past the queue the kernel drops connections the sidecar never sees (with
  // net.core.somaxconn at 128, as on some CI machines, 670 at once overflowed it), and this test
  // is about what the sidecar does with the ones it gets. The queue itself is docs/tcp-udp.md's
  // listenBacklog note.
  const wave = Math.max(16, Math.floor(Math.min(4096, somaxconn()) / 2));
  const acceptedBefore = await acceptedTcp(http);
  const attack = (async () => {
    const plan = kinds.flatMap(([kind, n, act]) =>
      Array.from({ length: n }, () => [kind, act] as const),
    );
    for (let i = 0; i < plan.length; i += wave) {
      for (const [kind, act] of plan.slice(i, i + wave)) attackers.push(connect(kind).then(act));
      const letIn = acceptedBefore + Math.min(i + wave, plan.length);
      await waitFor(
        async () => (await acceptedTcp(http)) >= letIn,
        10_000,
        'a wave to be accepted',
      );
    }
  })();
  // A UDP flood from ports that never registered.
  for (let s = 0; s < 5; s++) {
    attackers.push(
      UdpPeer.open().then(async (u) => {
        open.push(u);
        for (let i = 0; i < 4000; i++) {
          await u.send(udp, randomBytes(512));
          if (i % 200 === 0) await sleep(1);
        }
      }),
    );
  }

  // One source (127.0.0.2, another machine) registers every port it can think of...
  attackers.push(
    UdpPeer.open('127.0.0.2').then(async (u) => {
      open.push(u);
      for (let port = 20_000; port < 30_000; port++) {
        await u.send(udp, `SOCKETFORWARDER-NEW:${port}`);
        if (port % 200 === 0) await sleep(1);
      }
    }),
  );
  // ...while a peer at another address (127.0.0.3) registers and becomes the good UDP member.
  const udpMember = await UdpPeer.open('127.0.0.3');
  open.push(udpMember);
  try {
    udpMember.socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {}
  await waitFor(
    async () => {
      await udpMember.register(udp);
      const g = await (await fetch(`http://${http}/groups/lobby`)).json();
      return g.members.some((m: { remote: string }) => m.remote === `127.0.0.3:${udpMember.port}`);
    },
    10_000,
    'the good UDP member to be registered during the registration flood',
  );
  // HEAD on the good group's stream, 1,000 times: not one phantom subscriber.
  const heads: number[] = [];
  attackers.push(
    (async () => {
      for (let i = 0; i < 1000; i += 20) {
        const batchOf = await Promise.all(
          Array.from({ length: 20 }, () => httpCall(http, 'HEAD', '/groups/lobby/events')),
        );
        for (const r of batchOf) heads.push(r.status);
      }
    })(),
  );
  // The largest NDJSON bodies: 16 MB of one-byte lines, and 16 MB of 10,000 messages.
  const ndjson = { 'Content-Type': 'application/x-ndjson' };
  let tiny: { status: number; text: string } | undefined;
  let bulk: { status: number; text: string } | undefined;
  attackers.push(
    (async () => {
      tiny = await httpCall(http, 'POST', '/groups/tiny/messages', tinyLines, {
        ...ndjson,
        'Content-Length': tinyLines.byteLength,
      });
      bulk = await httpCall(http, 'POST', '/groups/bulk/messages', batch, {
        ...ndjson,
        'Content-Length': batch.byteLength,
      });
    })(),
  );

  // Meanwhile the good group talks.
  const total = 2000;
  for (let i = 0; i < total; i += 10) {
    let lines = '';
    for (let k = i; k < i + 10; k++) lines += `good-${k}\n`;
    sender.write(lines);
    await sleep(2);
  }
  await attack;
  await Promise.all(attackers);
  const expected = Array.from({ length: total }, (_, k) => `good-${k}\n`).join('');
  await receiver.waitForBytes(expected.length, 20_000);
  assert.is(receiver.text, expected, 'the TCP member got every message, in order');
  await watcher.waitForMessages(total, 20_000);
  assert.equal(
    watcher.data(),
    Array.from({ length: total }, (_, k) => `good-${k}`),
  );
  await udpMember.waitForCount(total, 20_000);
  assert.equal(
    udpMember.texts(),
    Array.from({ length: total }, (_, k) => `good-${k}`),
    'the UDP member got every message, in order',
  );

  // HEAD left nothing behind; the NDJSON bodies got their answers; the registration flood holds
  // only its cap.
  assert.equal([...new Set(heads)], [200]);
  assert.is(heads.length, 1000);
  const health = await (await fetch(`http://${http}/healthz`)).json();
  assert.is(health.connections.sse, 1, 'only the watcher is subscribed');
  const lobby = await (await fetch(`http://${http}/groups/lobby`)).json();
  assert.is(lobby.counts.sse, 1);
  assert.is(lobby.counts.udp, 1 + 4, "the good UDP member and the flooding address's 4");
  assert.is(tiny?.status, 413, tiny?.text.slice(0, 200));
  assert.is(JSON.parse(tiny?.text ?? '{}').error?.code, 'TOO_MANY_MESSAGES');
  assert.is(bulk?.status, 202, bulk?.text.slice(0, 200));
  assert.is(JSON.parse(bulk?.text ?? '{}').count, batchLines);

  // Every hostile TCP connection was cut, each for its own reason.
  await waitFor(
    () => hostile.every((h) => h.peer.closed),
    10_000,
    'hostile connections to be cut',
  ).catch((err: Error) => {
    const left = hostile
      .filter((h) => !h.peer.closed)
      .map(
        (h) =>
          `${h.kind}${h.error ? ` (${h.error})` : ''}: ${JSON.stringify(h.peer.text.slice(0, 80))}`,
      );
    throw new Error(`${err.message}; ${left.length} still open: ${left.slice(0, 10).join('; ')}`);
  });
  const reasons = new Map<string, number>();
  for (const { peer: p } of hostile) {
    const code = /^ERROR (\w+)/.exec(p.text)?.[1] ?? 'none';
    reasons.set(code, (reasons.get(code) ?? 0) + 1);
  }
  assert.ok(
    (reasons.get('BAD_JOIN') ?? 0) + (reasons.get('INVALID_GROUP_ID') ?? 0) >= 250,
    JSON.stringify([...reasons]),
  );
  assert.is(
    reasons.get('JOIN_TIMEOUT'),
    350,
    `half-open and slowloris: ${JSON.stringify([...reasons])}`,
  );
  assert.is(reasons.get('MESSAGE_TOO_LARGE'), 20);
  const metrics = await (await fetch(`http://${http}/metrics`)).text();
  // Every hostile datagram is accounted for: counted by the sidecar, or dropped by the kernel
  // before the sidecar could read it (its socket's `drops` in /proc/net/udp) while the event
  // loop was busy with the other attacks. 20,000 unregistered + 9,996 registrations past the cap.
  const counted = (reason: string) =>
    Number(
      new RegExp(`^groupcast_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(
        metrics,
      )?.[1] ?? 0,
    );
  const kernelDrops = udpDrops(udp);
  console.log(
    `hostile datagrams: ${counted('UNREGISTERED')} unregistered and ${counted('TOO_MANY_FROM_ADDRESS')} registrations past the cap counted, ${kernelDrops} dropped by the kernel`,
  );
  assert.is(
    counted('UNREGISTERED') + counted('TOO_MANY_FROM_ADDRESS') + kernelDrops,
    20_000 + 9_996,
  );

  clearInterval(sampler);
  const growth = peak - baseline;
  console.log(
    `sidecar RSS: baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, peak ${(peak / 2 ** 20).toFixed(1)} MiB under attack`,
  );
  assert.ok(growth < RSS_GROWTH_LIMIT + NDJSON_BUDGET, `grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
  assert.ok((await (await fetch(`http://${http}/healthz`)).json()).status === 'ok');
});

test.run();
