import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { concatBytes, textEncoder } from '../../shared/bytes.ts';
import { batchOf } from '../../shared/message.ts';
import {
  decodeShared,
  encodeSharedParts,
  MalformedBatchError,
  sharedCount,
} from '../../sidecar/backplane/redis/codec.ts';

const payloads = (...texts: string[]) => texts.map((t) => textEncoder.encode(t));

test('a shared batch carries its publish time to the nodes that read it', () => {
  const a = batchOf(payloads('one', 'two'), 0, 0, 1796090458106);
  const b = batchOf(payloads('three'), 0, 0, 1796090458109);
  const blob = concatBytes(encodeSharedParts('node-a', 'raw', [a, b]));
  assert.is(sharedCount(blob), 3);
  const shared = decodeShared(blob, 77, 3);
  assert.is(shared.origin, 'node-a');
  assert.is(shared.batch.time, 1796090458106, "the turn's first time");
  assert.is(shared.batch.id(0), '77-1');
  assert.equal(
    [0, 1, 2].map((i) => new TextDecoder().decode(shared.batch.payload(i))),
    ['one', 'two', 'three'],
  );
});

test('a version 1 blob (no time, from an older node) is still read, stamped on arrival', () => {
  const blob = concatBytes(encodeSharedParts('old', 'raw', [batchOf(payloads('x'), 0, 0, 5)]));
  // Version 1 is version 2 without the 8 bytes of time after the three counts.
  const at = 3 + 'old'.length + 12;
  const v1 = concatBytes([blob.subarray(0, at), blob.subarray(at + 8)]);
  v1[0] = 1;
  const before = Date.now();
  const shared = decodeShared(v1, 9, 1);
  assert.ok(shared.batch.time >= before && shared.batch.time <= Date.now());
  assert.is(new TextDecoder().decode(shared.batch.payload(0)), 'x');
});

test('a blob with a time that is no time is malformed, not a crash', () => {
  const blob = concatBytes(encodeSharedParts('n', 'raw', [batchOf(payloads('x'), 0, 0, 5)]));
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY]) {
    view.setFloat64(3 + 1 + 12, bad, true);
    assert.throws(
      () => decodeShared(blob, 1, 1),
      (e: unknown) => e instanceof MalformedBatchError,
    );
  }
});

test.run();
