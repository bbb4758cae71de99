/**
 * TCP members are written once per event-loop turn (sidecar/turn-cork.ts): what several POSTs
 * published in one turn reaches each member in one write, counted here as the process's write
 * syscalls (/proc/self/io), in order and complete. A turn's only buffer is held by the member
 * until the turn ends: it counts as unsent, and a shutdown in that turn still sends it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SidecarRig } from '../helpers/rig.ts';

const rig = new SidecarRig(test);

function writeSyscalls(): number {
  const line = readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('syscw:'));
  return Number(line?.split(':')[1]);
}

test('a TCP member gets what one turn published in one write, in order', async () => {
  if (!existsSync('/proc/self/io')) return;
  const members = [];
  for (let i = 0; i < 4; i++) members.push(await rig.tcp('turn'));
  const n = 20;
  const expected = Array.from({ length: n }, (_, i) => `m${i}\n`).join('');
  const before = writeSyscalls();
  // Not awaited one by one: all twenty are published within this turn, as POSTs answered together are.
  const published = Array.from({ length: n }, (_, i) =>
    rig.sc.hub.publish('turn', [Buffer.from(`m${i}`)], { transport: 'http', remote: 'test' }),
  );
  await Promise.all(published);
  for (const m of members) assert.is(await m.waitForText(`m${n - 1}\n`), expected);
  const writes = writeSyscalls() - before;
  // One per member (20 each without the cork); a few more for anything else the process wrote.
  assert.ok(
    writes < 2 * members.length + 4,
    `${writes} write syscalls for ${members.length} members`,
  );
});

const HTTP = { transport: 'http', remote: 'test' } as const;

test("a message handed over this turn counts in the member's unsent bytes at once", async () => {
  await rig.tcp('pending');
  // Not awaited: the hub hands the batch over before publish first waits.
  const published = rig.sc.hub.publish('pending', [Buffer.alloc(1000, 97)], HTTP);
  const [info] = rig.sc.hub.localGroup('pending')?.members ?? [];
  assert.is(info?.pendingBytes, 1001, 'what flow control reads right after a delivery');
  await published;
});

// Last: it shuts the rig's sidecar down.
test('a message handed over in the turn the sidecar shuts down reaches the member before the close', async () => {
  const m = await rig.tcp('bye');
  const published = rig.sc.hub.publish('bye', [Buffer.from('last')], HTTP);
  const closing = rig.sc.close();
  assert.is(await m.waitForText('last\n'), 'last\n');
  await m.waitClosed();
  await Promise.allSettled([published, closing]);
});

test.run();
