import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IDLE_TRIM_NEW_SPACE_BYTES } from '../../sidecar/idle-trim.ts';
import { sleep } from '../helpers/common.ts';
import { rssOf, startSidecarProcess } from '../helpers/sidecar-process.ts';
import { joinedSocket } from '../helpers/tcp.ts';

const MEMBERS = 5_000;
const GROUPS = 50;
const TRIMMED = 'idle: young generation given back';

/** A sidecar process logging its trims, with room for the storm's connections from one address. */
async function start(env: Record<string, string> = {}) {
  const sc = await startSidecarProcess(
    { GROUPCAST_LOG_LEVEL: 'debug', GROUPCAST_MAX_CONNECTIONS_PER_IP: '100000', ...env },
    ['tcp'],
  );
  return { sc, port: Number(sc.addresses.tcp.split(':').pop()) };
}

interface Trim {
  newSpaceBefore: number;
  newSpaceAfter: number;
}

async function storm(port: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < MEMBERS; i++) sockets.push(await joinedSocket(port, `storm-${i % GROUPS}`));
  for (const s of sockets) s.resume();
  return sockets;
}

function trims(out: string): Trim[] {
  const found: Trim[] = [];
  for (const line of out.split('\n')) {
    if (!line.includes(TRIMMED)) continue;
    const rec = JSON.parse(line);
    found.push({ newSpaceBefore: rec.newSpaceBefore, newSpaceAfter: rec.newSpaceAfter });
  }
  return found;
}

// V8 grows its young generation while thousands of members connect (each one's socket and state
// survive its young collections) and keeps it, resident, until its own memory reducer runs 10-15 s
// later. The sidecar gives it back half a second after it goes idle, and never while it is busy.
test('a sidecar gives back the young generation a connect storm grew, once idle, not while busy', async () => {
  const { sc, port } = await start();
  let sockets: Socket[] = [];
  try {
    sockets = await storm(port);
    // Busy: a publisher keeps the sidecar's loop working for 2.5 s (64 KiB writes to 100 members).
    const publisher = await joinedSocket(port, 'storm-0');
    const chunk = Buffer.alloc(64 * 1024, 97);
    chunk[chunk.length - 1] = 10;
    const busyUntil = Date.now() + 2_500;
    let writes = 0;
    while (Date.now() < busyUntil && writes < 100_000) {
      writes++;
      if (!publisher.write(chunk)) await new Promise((r) => publisher.once('drain', r));
    }
    const whileBusy = trims(sc.stdout());
    const busyRss = rssOf(sc.child.pid as number);
    publisher.destroy();
    // Idle: the trim comes within a few checks.
    const deadline = Date.now() + 5_000;
    while (trims(sc.stdout()).length === whileBusy.length && Date.now() < deadline) await sleep(50);
    const after = trims(sc.stdout()).slice(whileBusy.length);
    assert.equal(whileBusy, [], 'no trim while members connected and a publisher kept it busy');
    assert.is(after.length, 1, `one trim once idle:\n${sc.stdout().slice(-2000)}`);
    assert.ok(
      after[0].newSpaceBefore >= IDLE_TRIM_NEW_SPACE_BYTES,
      `the storm grew the young generation (${after[0].newSpaceBefore})`,
    );
    assert.ok(after[0].newSpaceAfter <= 2 * 1024 * 1024, `given back (${after[0].newSpaceAfter})`);
    // V8 unmaps the freed pages on a background thread: on a busy machine RSS falls a moment later.
    const freed = after[0].newSpaceBefore - after[0].newSpaceAfter;
    let idleRss = rssOf(sc.child.pid as number);
    const settleBy = Date.now() + 2_000;
    while (busyRss - idleRss <= freed / 2 && Date.now() < settleBy) {
      await sleep(100);
      idleRss = Math.min(idleRss, rssOf(sc.child.pid as number));
    }
    assert.ok(
      busyRss - idleRss > freed / 2,
      `RSS fell by ${((busyRss - idleRss) / 2 ** 20).toFixed(1)} MiB (young generation ${(freed / 2 ** 20).toFixed(1)} MiB)`,
    );
    // Every member is still there: a message reaches one.
    const probe = await joinedSocket(port, 'storm-7');
    const reader = sockets[7];
    const got = new Promise<string>((resolve) => reader.once('data', (d) => resolve(String(d))));
    await sleep(50);
    probe.write('after the trim\n');
    assert.is(await got, 'after the trim\n');
    probe.destroy();
  } finally {
    for (const s of sockets) s.destroy();
    await sc.stop();
  }
});

test('GROUPCAST_IDLE_TRIM=off leaves the young generation to V8', async () => {
  const { sc, port } = await start({ GROUPCAST_IDLE_TRIM: 'off' });
  let sockets: Socket[] = [];
  try {
    sockets = await storm(port);
    // Idle for four times as long as a trim takes to come (above).
    await sleep(2_000);
    assert.equal(trims(sc.stdout()), []);
  } finally {
    for (const s of sockets) s.destroy();
    await sc.stop();
  }
});

test.run();
