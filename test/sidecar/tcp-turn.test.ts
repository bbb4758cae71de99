/**
 * TCP members are written once per event-loop turn (sidecar/turn-cork.ts): what several POSTs
 * published in one turn reaches each member in one write, counted here as the process's write
 * syscalls (/proc/self/io), in order and complete.
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

test.run();
