import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  burstOf,
  LINE_BYTES,
  openSocket,
  runBurst,
  SseBurstReader,
  slowReader,
  stoppedMember,
  TcpBurstReader,
} from '../helpers/burst.ts';
import { hostPort, sleep, waitFor } from '../helpers/common.ts';
import type { Started } from '../helpers/process.ts';
import { metricOf, peakRss, rssOf, startSidecarProcess } from '../helpers/sidecar-process.ts';

const MiB = 1024 * 1024;
const STALL_MS = 1000;
/** The default GROUPCAST_FLOW_HIGH_WATER. */
const HIGH_WATER = MiB;
/** Sidecar RSS growth allowed during a burst: queues are bounded by the high-water mark. */
const BURST_RSS_BOUND = 96 * MiB;
/** No member's queue passes the hard limit (8 MiB by default) by more than a read or two. */
const QUEUE_BOUND = 10 * MiB;

const procs: Started[] = [];
async function sidecar(env: Record<string, string> = {}): Promise<Started> {
  const p = await startSidecarProcess(env);
  procs.push(p);
  return p;
}

/** Clients a test opened, closed after it whether it passed or not (they must not keep it alive). */
const cleanups: (() => void)[] = [];

test.after.each(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const p of procs.splice(0)) await p.stop();
});

const SLOW_TCP = 'groupcast_slow_consumer_disconnects_total{transport="tcp"}';
const SLOW_SSE = 'groupcast_slow_consumer_disconnects_total{transport="sse"}';

for (const mib of [64, 256]) {
  test(`a ${mib} MiB burst reaches every reader whole and in order; a stopped member is cut within the stall timeout`, async () => {
    const sc = await sidecar({ GROUPCAST_STALL_TIMEOUT: `${STALL_MS}ms` });
    const { tcp, http } = sc.addresses;
    const pid = sc.child.pid as number;
    const lines = mib * 1024;
    const timeout = 30_000 + mib * 200;

    // Without the stopped member: the readers' own pace.
    const free = [
      await TcpBurstReader.join(tcp, 'free'),
      await TcpBurstReader.join(tcp, 'free'),
      await SseBurstReader.open(http, 'free'),
    ];
    await sleep(100);
    const alone = await runBurst(tcp, 'free', lines, free, timeout);

    const readers = [
      await TcpBurstReader.join(tcp, 'burst'),
      await TcpBurstReader.join(tcp, 'burst'),
      await SseBurstReader.open(http, 'burst'),
    ];
    const stopped = await stoppedMember(tcp, 'burst');
    cleanups.push(() => {
      stopped.destroy();
      for (const r of [...free, ...readers]) {
        if (r instanceof SseBurstReader) r.close();
        else r.socket.destroy();
      }
    });
    await sleep(100);
    const before = rssOf(pid);
    const start = Date.now();
    // The largest queue any member had: flow control keeps it near the high-water mark.
    let maxPending = 0;
    // When the stopped member's own queue first passed the high-water mark: from then on it holds
    // the group and its stall is timed (until then the kernel's buffers were still taking bytes).
    let stuckAt = 0;
    const stoppedRemote = `:${stopped.localPort}`;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const g = await (await fetch(`http://${http}/groups/burst`)).json();
        for (const m of g.members) {
          maxPending = Math.max(maxPending, m.pendingBytes);
          if (!stuckAt && m.remote.endsWith(stoppedRemote) && m.pendingBytes > HIGH_WATER) {
            stuckAt = Date.now();
          }
        }
        await sleep(20);
      }
    })();
    const { result, peak } = await peakRss(pid, () =>
      runBurst(tcp, 'burst', lines, readers, timeout),
    );
    await waitFor(async () => (await metricOf(http, SLOW_TCP)) === 1, timeout, 'the cut');
    // When the sidecar cut it, by its own log (polling /metrics would add the poll's delay).
    const cutLine = sc
      .stdout()
      .split('\n')
      .find((l) => l.includes('"code":"SLOW_CONSUMER"'));
    const cutAt = Date.parse(JSON.parse(cutLine as string).time);
    const cutAfter = cutAt - start;
    const cutAfterStuck = cutAt - (stuckAt || start);
    sampling = false;
    await sampler;
    assert.ok(maxPending <= QUEUE_BOUND, `a member queued ${maxPending} bytes`);

    assert.is(await metricOf(http, SLOW_TCP), 1, 'only the stopped member is cut');
    assert.is(await metricOf(http, SLOW_SSE), 0, 'the SSE reader is not cut');
    for (const r of readers.slice(0, 2)) assert.not.ok((r as TcpBurstReader).closed);
    assert.not.ok((readers[2] as SseBurstReader).ended);
    assert.ok(
      cutAfterStuck <= STALL_MS + 1000,
      `stopped member cut ${cutAfterStuck} ms after its queue passed the high-water mark`,
    );
    const growth = peak - before;
    assert.ok(growth < BURST_RSS_BOUND, `sidecar RSS grew ${(growth / MiB).toFixed(1)} MiB`);
    console.log(
      `  ${mib} MiB burst: readers ${(alone.bytesPerSecond / MiB).toFixed(0)} MiB/s alone, ${(result.bytesPerSecond / MiB).toFixed(0)} MiB/s with a stopped member (cut ${cutAfter} ms after the burst began, ${cutAfterStuck} ms after it was stuck); sidecar RSS +${(growth / MiB).toFixed(1)} MiB, largest queue ${(maxPending / MiB).toFixed(1)} MiB`,
    );
    stopped.resume();
    stopped.destroy();
    for (const r of [...free, ...readers]) {
      if (r instanceof SseBurstReader) r.close();
      else r.socket.destroy();
    }
  });
}

test('a POST into a group held by a slow reader waits, then gets 503 GROUP_BUSY with Retry-After and publishes nothing; other groups go on', async () => {
  const sc = await sidecar({
    GROUPCAST_FLOW_HIGH_WATER: '64KiB',
    GROUPCAST_PUBLISH_WAIT: '300ms',
    GROUPCAST_STALL_TIMEOUT: '30s',
  });
  const { tcp, http } = sc.addresses;
  const stop = await slowReader(tcp, 'jam', 64 * 1024, 20);
  cleanups.push(stop);
  await sleep(50);
  const body = 'y'.repeat(512 * 1024);
  // The reader keeps reading, so it holds the group to its pace: POSTs wait, then are refused.
  let busy: Response | null = null;
  for (let i = 0; i < 200 && !busy; i++) {
    const res = await fetch(`http://${http}/groups/jam/messages`, { method: 'POST', body });
    if (res.status !== 202) busy = res;
    else await res.arrayBuffer();
  }
  if (!busy) throw new Error('no POST was held back');
  assert.is(busy.status, 503);
  assert.is(busy.headers.get('retry-after'), '1');
  assert.is((await busy.json()).error.code, 'GROUP_BUSY');
  const lastId = (await (await fetch(`http://${http}/groups/jam`)).json()).lastId;
  const t0 = Date.now();
  const again = await fetch(`http://${http}/groups/jam/messages`, { method: 'POST', body });
  const waited = Date.now() - t0;
  if (again.status === 503) {
    assert.ok(waited >= 250, `waited ${waited} ms`);
    assert.is((await (await fetch(`http://${http}/groups/jam`)).json()).lastId, lastId);
  }
  // Another group is not held by this one, from the same client.
  const t1 = Date.now();
  const other = await fetch(`http://${http}/groups/free/messages`, { method: 'POST', body: 'ok' });
  assert.is(other.status, 202);
  assert.ok(Date.now() - t1 < 250, 'a POST to another group does not wait');
  assert.is(await metricOf(http, SLOW_TCP), 0, 'the slow reader is not cut');
  stop();
});

test('a member that stops reading holds its group only briefly, then is cut at its hard limit', async () => {
  const sc = await sidecar({
    GROUPCAST_FLOW_HIGH_WATER: '64KiB',
    GROUPCAST_MAX_PENDING_BYTES: '2MiB',
    GROUPCAST_PUBLISH_WAIT: '5s',
    GROUPCAST_STALL_TIMEOUT: '30s',
  });
  const { tcp, http } = sc.addresses;
  const reader = await TcpBurstReader.join(tcp, 'held');
  const stopped = await stoppedMember(tcp, 'held');
  cleanups.push(
    () => stopped.destroy(),
    () => reader.socket.destroy(),
  );
  await sleep(50);
  const statuses: number[] = [];
  let slowest = 0;
  for (let i = 0; i < 80; i++) {
    const t = Date.now();
    const res = await fetch(`http://${http}/groups/held/messages`, {
      method: 'POST',
      body: `${String(i).padStart(10, '0')}${'y'.repeat(256 * 1024)}`,
    });
    slowest = Math.max(slowest, Date.now() - t);
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  assert.ok(
    statuses.every((s) => s === 202),
    `every POST accepted: ${statuses.join(',')}`,
  );
  assert.ok(slowest < 2000, `no POST waited long (${slowest} ms)`);
  await waitFor(async () => (await metricOf(http, SLOW_TCP)) === 1, 5000, 'the stopped member cut');
  assert.not.ok(reader.closed, 'the reader stays');
  stopped.destroy();
  reader.socket.destroy();
});

test('a TCP publisher is not read past what a slow reader takes (TCP slows it down)', async () => {
  const sc = await sidecar({ GROUPCAST_FLOW_HIGH_WATER: '64KiB', GROUPCAST_STALL_TIMEOUT: '30s' });
  const { tcp, http } = sc.addresses;
  const stop = await slowReader(tcp, 'slowdown', 64 * 1024, 20);
  cleanups.push(stop);
  const publisher = await openSocket(tcp);
  cleanups.push(() => publisher.destroy());
  publisher.write('SOCKETFORWARDER-NEW:slowdown\n');
  publisher.on('error', () => {});
  await sleep(50);
  const chunk = `${'p'.repeat(1023)}\n`.repeat(64);
  // Writes for 3 s as fast as the socket takes it.
  let written = 0;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && written < 256 * MiB) {
    written += chunk.length;
    if (!publisher.write(chunk)) {
      await Promise.race([new Promise((r) => publisher.once('drain', r)), sleep(200)]);
    }
  }
  const read = (await metricOf(http, 'groupcast_messages_in_total{transport="tcp"}')) * 1024;
  console.log(
    `  slowdown: publisher wrote ${(written / MiB).toFixed(1)} MiB, sidecar read ${(read / MiB).toFixed(1)} MiB in 3 s`,
  );
  assert.ok(read < 48 * MiB, `the sidecar read ${read} bytes from the publisher`);
  assert.is(await metricOf(http, SLOW_TCP), 0, 'the slow reader is not cut');
  publisher.destroy();
  stop();
});

test('a large NDJSON POST into a group that congests while it is published is never refused half-published', async () => {
  const sc = await sidecar({
    GROUPCAST_FLOW_HIGH_WATER: '64KiB',
    GROUPCAST_PUBLISH_WAIT: '300ms',
    GROUPCAST_STALL_TIMEOUT: '30s',
  });
  const { tcp, http } = sc.addresses;
  const stop = await slowReader(tcp, 'slices', 64 * 1024, 50);
  cleanups.push(stop);
  await sleep(50);
  // 10,000 lines of 1 KB: about 40 slices of the sidecar's, far more than the reader takes at once.
  const line = `{"p":"${'x'.repeat(1000)}"}\n`;
  const res = await fetch(`http://${http}/groups/slices/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-ndjson' },
    body: line.repeat(10_000),
  });
  const body = await res.json();
  const detail = await (await fetch(`http://${http}/groups/slices`)).json();
  if (res.status === 503) {
    // Refused: then before anything was published.
    assert.is(body.error.code, 'GROUP_BUSY');
    assert.is(detail.counters.messagesIn, 0, 'nothing of a refused POST is published');
  } else {
    assert.is(res.status, 202);
    assert.is(body.count, 10_000);
    assert.is(detail.counters.messagesIn, 10_000);
  }
});

test('100 members trickling a byte per read cost a few bytes of memory per byte held', async () => {
  const sc = await sidecar({ GROUPCAST_JOIN_TIMEOUT: '60s' });
  const { tcp, http } = sc.addresses;
  const pid = sc.child.pid as number;
  const { host, port } = hostPort(tcp);
  const sockets = await Promise.all(
    Array.from(
      { length: 100 },
      () =>
        new Promise<ReturnType<typeof connect>>((resolve) => {
          const s = connect({ host, port, noDelay: true }, () => resolve(s));
          s.on('error', () => {});
        }),
    ),
  );
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  for (const s of sockets) s.write('SOCKETFORWARDER-NEW:trickle\n');
  await sleep(300);
  const before = rssOf(pid);
  let sent = 0;
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    for (const s of sockets) s.write('t');
    sent += sockets.length;
    await sleep(2);
  }
  await sleep(300);
  const partial = await metricOf(http, 'groupcast_memory_bytes{kind="partial"}');
  const growth = rssOf(pid) - before;
  console.log(
    `  trickle: ${sent} bytes held; partial frames ${partial} bytes (${(partial / sent).toFixed(2)} per byte); RSS +${(growth / MiB).toFixed(1)} MiB`,
  );
  assert.ok(partial >= sent, 'every held byte is counted');
  assert.ok(partial <= 4 * sent, `partial frames take ${partial} bytes for ${sent}`);
  // RSS also moves with the allocator and the collector: 4 bytes per byte plus a fixed margin.
  assert.ok(growth < 4 * sent + 48 * MiB, `RSS grew ${growth} bytes for ${sent} held`);
  for (const s of sockets) s.destroy();
});

/**
 * An SSE subscriber on a raw socket that reads `bytesPerSecond` by the clock (a late timer on a
 * busy machine reads more, so the pace holds), keeping only the number of the last data line.
 */
async function pacedSseReader(http: string, group: string, bytesPerSecond: number) {
  const sse = await openSocket(http);
  sse.on('error', () => {});
  sse.write(`GET /groups/${group}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
  sse.pause();
  const state = { lastLine: -1, maxGapMs: 0 };
  let text = '';
  const startedAt = Date.now();
  let lastTick = startedAt;
  let allowed = 0;
  const reading = setInterval(() => {
    const now = Date.now();
    state.maxGapMs = Math.max(state.maxGapMs, now - lastTick);
    lastTick = now;
    const due = ((now - startedAt) / 1000) * bytesPerSecond;
    // A late timer catches up, but what went unread while nothing came is not saved up.
    allowed = Math.max(allowed, due - bytesPerSecond / 5);
    let left = due - allowed;
    while (left >= 1) {
      // At most what the pace allows, so the reader is as slow as it says.
      const n = Math.min(Math.floor(left), sse.readableLength);
      const got = n > 0 ? (sse.read(n) as Buffer | null) : null;
      if (!got) break;
      left -= got.byteLength;
      allowed += got.byteLength;
      text += got.toString('latin1');
      // Keep only the tail: the count is taken from the data lines as they pass.
      const found = text.match(/\ndata: \d{10}/g);
      if (found) state.lastLine = Number(found[found.length - 1].slice(7));
      text = text.slice(-64);
    }
  }, 20);
  cleanups.push(() => {
    clearInterval(reading);
    sse.destroy();
  });
  return state;
}

/** Waits for the reader's last line; on failure, says whether it was cut or held, and why. */
async function readsToTheEnd(
  sc: Started,
  reader: { lastLine: number; maxGapMs: number },
  lines: number,
  ms: number,
): Promise<void> {
  try {
    await waitFor(() => reader.lastLine === lines - 1, ms, 'the last line');
  } catch (err) {
    const http = sc.addresses.http;
    const cut = await metricOf(http, SLOW_SSE);
    const over = await metricOf(http, 'groupcast_flow_members_over_high_water');
    throw new Error(
      `${(err as Error).message}: at line ${reader.lastLine}; slow-consumer cuts ${cut}, members over the mark ${over}; the reader's longest pause ${reader.maxGapMs} ms`,
    );
  }
  assert.is(await metricOf(http(sc), SLOW_SSE), 0, 'the subscriber was not cut');
}

function http(sc: Started): string {
  return sc.addresses.http;
}

test('an SSE reader that reads slowly holds a TCP publisher to its pace and gets every message', async () => {
  const sc = await sidecar({ GROUPCAST_FLOW_HIGH_WATER: '64KiB', GROUPCAST_STALL_TIMEOUT: '30s' });
  // 8 MiB/s: far slower than the publisher, which has written 32 MiB at once.
  const reader = await pacedSseReader(http(sc), 'hold', 8 * MiB);
  const pub = await openSocket(sc.addresses.tcp);
  pub.on('error', () => {});
  cleanups.push(() => pub.destroy());
  pub.write('SOCKETFORWARDER-NEW:hold\n');
  await sleep(200);
  const lines = 32 * 1024;
  pub.write(burstOf(lines));
  await sleep(1000);
  // Loopback buffers take a few MiB on each side; the sidecar must not have read the rest.
  assert.ok(
    pub.writableLength > 4 * MiB,
    `the publisher was read ahead of the reader: ${pub.writableLength} of ${lines * LINE_BYTES} bytes left`,
  );
  await readsToTheEnd(sc, reader, lines, 30_000);
});

test("a fast TCP publisher's megabyte turns reach an SSE connection in pieces of at most 64 KiB", async () => {
  // One read of a TCP publisher can bring about 2 MiB in one event-loop turn, and that turn is
  // one SSE chunk. Written whole, a slow reader's connection would show no progress until all of
  // it had gone, and the flow control's timers would take a reader that reads for a stopped one.
  const sc = await sidecar();
  const sse = await openSocket(http(sc));
  sse.on('error', () => {});
  cleanups.push(() => sse.destroy());
  sse.write('GET /groups/pieces/events HTTP/1.1\r\nHost: x\r\n\r\n');
  // The response is chunked: one HTTP chunk per write the sidecar made.
  const chunks = new ChunkSizes();
  sse.on('data', (d: Buffer) => chunks.feed(d));
  const pub = await openSocket(sc.addresses.tcp);
  pub.on('error', () => {});
  cleanups.push(() => pub.destroy());
  pub.write('SOCKETFORWARDER-NEW:pieces\n');
  await sleep(200);
  const lines = 16 * 1024;
  pub.write(burstOf(lines));
  await waitFor(() => chunks.lastLine === lines - 1, 30_000, 'the last line');
  assert.ok(chunks.payloadBytes > lines * LINE_BYTES, 'every line came');
  assert.ok(chunks.largest <= 64 * 1024, `a chunk of ${chunks.largest} bytes`);
});

/** Reads a chunked HTTP response from its first byte: the largest chunk and the last data line. */
class ChunkSizes {
  largest = 0;
  payloadBytes = 0;
  lastLine = -1;
  #head = true;
  #pending = Buffer.alloc(0);
  #left = 0;
  #tail = '';

  feed(d: Buffer): void {
    let buf = Buffer.concat([this.#pending, d]);
    for (;;) {
      if (this.#left > 0) {
        const take = buf.subarray(0, this.#left);
        this.#left -= take.byteLength;
        this.payloadBytes += take.byteLength;
        this.#text(take);
        buf = buf.subarray(take.byteLength);
        if (this.#left > 0) break;
        continue;
      }
      const end = buf.indexOf('\r\n');
      if (end < 0) break;
      const line = buf.subarray(0, end).toString('latin1');
      buf = buf.subarray(end + 2);
      if (this.#head) {
        if (line === '') this.#head = false;
        continue;
      }
      if (line === '') continue;
      const size = Number.parseInt(line, 16);
      this.largest = Math.max(this.largest, size);
      this.#left = size;
    }
    this.#pending = Buffer.from(buf);
  }

  #text(b: Buffer): void {
    const text = this.#tail + b.toString('latin1');
    const found = text.match(/\ndata: \d{10}/g);
    if (found) this.lastLine = Number(found[found.length - 1].slice(7));
    this.#tail = text.slice(-64);
  }
}

test.run();
