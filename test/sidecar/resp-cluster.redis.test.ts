import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { post } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

// Two real sidecars sharing groups over a real redis-server; Redis clients on each RESP port.
const redis = await startRedis();
const common = { redisUrl: redis.url, nodeHeartbeatMs: 100, nodeExpiryMs: 1000 };
const A = await startTestSidecar({ ...common, nodeId: 'node-a' });
const B = await startTestSidecar({ ...common, nodeId: 'node-b' });
const clients: Redis[] = [];
function client(sc: typeof A): Redis {
  const r = new Redis(sc.addresses.resp as string);
  clients.push(r);
  return r;
}

test('a RESP subscriber on node A receives what RESP, TCP and HTTP publish on node B', async () => {
  const sub = client(A);
  const got: string[] = [];
  sub.on('message', (channel: string, message: string) => got.push(`${channel} ${message}`));
  await sub.subscribe('across');
  // B hears of A's member through Redis before it counts it as a recipient.
  const pub = client(B);
  await waitFor(async () => (await post(B, 'probe', 'x')).status === 202, 2000, 'B up');
  await pub.publish('across', 'over resp');
  const peer = await TcpPeer.open(B.addresses.tcp as string, 'across');
  await waitFor(() => B.hub.findGroup('across')?.counts.tcp === 1, 2000, 'tcp join on B');
  peer.write('over tcp\n');
  await waitFor(() => got.length === 2, 5000, 'two messages on A');
  await post(B, 'across', 'over http');
  await waitFor(() => got.length === 3, 5000, 'three messages on A');
  assert.equal(got, ['across over resp', 'across over tcp', 'across over http']);
  peer.close();
});

test.after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([A.close(), B.close()]);
  await redis.stop();
});

test.run();
