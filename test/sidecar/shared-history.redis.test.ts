import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batch } from '../../shared/message.ts';
import { RedisKeys } from '../../sidecar/backplane/redis/keys.ts';
import { defineScripts } from '../../sidecar/backplane/redis/scripts.ts';
import { History } from '../../sidecar/history.ts';
import { startRedis } from '../helpers/redis.ts';

// The numbering script against the in-memory History it must mirror, batch by batch.
const redis = await startRedis();
const r = defineScripts(new Redis(redis.url));
const keys = new RedisKeys('t:');

test.after(async () => {
  r.disconnect();
  await redis.stop();
});

async function number(
  group: string,
  count: number,
  wireBytes: number,
  field: string,
  maxMessages: number,
  maxBytes: number,
): Promise<[number, number]> {
  r.multi({ pipeline: false }).catch(() => {});
  r.hset(keys.blobs(group), field, Buffer.alloc(wireBytes, 120)).catch(() => {});
  r.gcNumber(
    keys.meta(group),
    keys.index(group),
    keys.blobs(group),
    keys.groups,
    count,
    field,
    wireBytes,
    maxMessages,
    maxBytes,
    60_000,
    keys.channel(group),
    group,
  ).catch(() => {});
  const replies = (await r.exec()) as [Error | null, unknown][];
  assert.is(replies[1][0], null);
  return replies[1][1] as [number, number];
}

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

const limits: [number, number][] = [
  [5, 1 << 20],
  [1000, 300],
  [3, 250],
  [0, 1000],
  [10, 50],
  [7, 400],
];

for (const [maxMessages, maxBytes] of limits) {
  test(`the shared history evicts exactly like the in-memory one (${maxMessages} messages, ${maxBytes} bytes)`, async () => {
    const group = `g-${maxMessages}-${maxBytes}`;
    const h = new History(maxMessages, maxBytes);
    const random = rng(maxMessages * 7919 + maxBytes);
    let seq = 0;
    let epoch = 0;
    for (let i = 0; i < 300; i++) {
      const count = 1 + Math.floor(random() * 4);
      const wire = 1 + Math.floor(random() * 120);
      const b = new Batch(new Uint8Array(wire), new Uint32Array(count * 2), count, wire);
      b.firstSeq = seq + 1;
      h.append(b);
      const [e, first] = await number(group, count, wire, `f${i}`, maxMessages, maxBytes);
      if (i === 0) epoch = e;
      assert.is(e, epoch, 'one epoch');
      assert.is(first, seq + 1, 'contiguous seqs');
      seq += count;
      const [mSeq, evicted, bytes] = await r.hmget(keys.meta(group), 'seq', 'evicted', 'bytes');
      assert.is(Number(mSeq), seq);
      assert.is(Number(evicted), h.evictedSeq, `evicted after batch ${i}`);
      assert.is(Number(bytes), h.bytes, `bytes after batch ${i}`);
      assert.is(seq - Number(evicted), h.messages, `messages after batch ${i}`);
    }
    // Every batch the index holds is in blobs, and nothing else is.
    const index = await r.lrange(keys.index(group), 0, -1);
    assert.is(await r.hlen(keys.blobs(group)), index.length);
    if (index.length > 0) {
      const fields = index.map((e) => e.split(' ')[2]);
      const blobs = await r.hmget(keys.blobs(group), ...fields);
      assert.is(blobs.filter((x) => x === null).length, 0);
      assert.is(Number(index[index.length - 1].split(' ')[0]), seq);
      assert.is(Number(index[0].split(' ')[0]), h.after(0).next().value?.lastSeq);
    }
  });
}

test('a group whose shared history expired starts a new, later epoch', async () => {
  const group = 'expiring';
  const [e1] = await number(group, 2, 10, 'a', 10, 1000);
  await r.del(keys.meta(group));
  await new Promise((res) => setTimeout(res, 5));
  const [e2, first] = await number(group, 1, 10, 'b', 10, 1000);
  assert.ok(e2 > e1, `${e2} > ${e1}`);
  assert.is(first, 1);
  assert.equal(await r.hkeys(keys.blobs(group)), ['b'], 'what the old sequence held is gone');
});

test.run();
