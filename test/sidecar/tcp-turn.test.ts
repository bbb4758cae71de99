/**
 * TCP members are written once per event-loop turn (sidecar/turn-cork.ts): what several POSTs
 * published in one turn reaches each member in one write, counted here as the writes the sidecar's
 * sockets hand to their handles (each one write syscall), in order and complete. A turn's only buffer is held by the member
 * until the turn ends: it counts as unsent, and a shutdown in that turn still sends it.
 */
import { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SidecarRig } from '../helpers/rig.ts';
import type { TcpPeer } from '../helpers/tcp.ts';

const rig = new SidecarRig(test);

type WriteGeneric = (this: Socket, ...args: unknown[]) => unknown;

/**
 * Counts, per remote port, the writes Node's sockets hand to their handles while `run` runs: a
 * write, or a corked socket's whole writev, is one call and one write syscall. (The process's
 * syscall count in /proc/self/io once read 102 for 4 members under CI load: other threads write
 * too, and the count is process-wide.)
 */
async function handleWrites(run: () => Promise<void>): Promise<Map<number, number>> {
  const proto = Socket.prototype as unknown as { _writeGeneric: WriteGeneric };
  const original = proto._writeGeneric;
  const counts = new Map<number, number>();
  proto._writeGeneric = function (this: Socket, ...args: unknown[]) {
    const port = this.remotePort ?? 0;
    counts.set(port, (counts.get(port) ?? 0) + 1);
    return original.apply(this, args);
  };
  try {
    await run();
  } finally {
    proto._writeGeneric = original;
  }
  return counts;
}

test('a TCP member gets what one turn published in one write, in order', async () => {
  const members: TcpPeer[] = [];
  for (let i = 0; i < 4; i++) members.push(await rig.tcp('turn'));
  const n = 20;
  const expected = Array.from({ length: n }, (_, i) => `m${i}\n`).join('');
  const writes = await handleWrites(async () => {
    // Not awaited one by one: all twenty are published within this turn, as POSTs answered together are.
    const published = Array.from({ length: n }, (_, i) =>
      rig.sc.hub.publish('turn', [Buffer.from(`m${i}`)], { transport: 'http', remote: 'test' }),
    );
    await Promise.all(published);
    for (const m of members) assert.is(await m.waitForText(`m${n - 1}\n`), expected);
  });
  // One each (20 each without the cork), counted on the sidecar's side of each member's connection.
  const perMember = members.map((m) => writes.get(m.socket.localPort ?? -1) ?? 0);
  assert.equal(perMember, [1, 1, 1, 1], 'writes to each member');
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
