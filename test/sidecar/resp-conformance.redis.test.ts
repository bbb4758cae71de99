import { SignJWT } from 'jose';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Sidecar } from '../../sidecar/server.ts';
import { startRedis } from '../helpers/redis.ts';
import { RespWire } from '../helpers/resp.ts';
import { sleep, startTestSidecar } from '../helpers/sidecar.ts';

// The same command sequences to a real redis-server (Debian's 7.0) and to groupcast's RESP port;
// the replies must be the same bytes. Redis's replies are read until it goes quiet; groupcast
// must answer with as many replies, byte for byte (connection ids aside), and nothing more.
const redis = await startRedis();
const authRedis = await startRedis();
const JWT_SECRET = 'conformance-secret-conformance-secret';
// Length framing: payloads with CR, LF and NUL bytes are messages as they are.
const sc = await startTestSidecar({ tcpFraming: 'length' });
const scAuth = await startTestSidecar({ apiKeys: ['secret'], jwtSecret: JWT_SECRET });

{
  const setup = await RespWire.open(authRedis.port);
  setup.send(['ACL', 'SETUSER', 'alice', 'on', '>pw', 'resetchannels', '&news*', '+@all']);
  setup.send(['CONFIG', 'SET', 'requirepass', 'secret']);
  await setup.read(2);
  setup.close();
}
const newsToken = await new SignJWT({ groupcast: { subscribe: ['news*'], publish: ['news*'] } })
  .setProtectedHeader({ alg: 'HS256' })
  .sign(new TextEncoder().encode(JWT_SECRET));

type Cmd = (string | Buffer)[] | string;
interface Step {
  /** Which connection (opened on both sides on first use). */
  on?: string;
  /** What is sent to both; absent: only read what arrived. */
  cmd?: Cmd;
  /** What groupcast is sent instead (a token where Redis takes a password). */
  gc?: Cmd;
  /** Normalize integer replies (CLIENT ID). */
  anyInt?: boolean;
}

function normalize(replies: Buffer[], anyInt: boolean): string[] {
  return replies.map((r) => {
    let s = r.toString('latin1').replace(/\$2\r\nid\r\n:\d+\r\n/, '$2\r\nid\r\n:<id>\r\n');
    if (anyInt) s = s.replace(/^:\d+\r\n$/, ':<n>\r\n');
    return s;
  });
}

async function conform(
  name: string,
  steps: Step[],
  target: { redisPort: number; sidecar: Sidecar },
): Promise<void> {
  const conns = new Map<string, { r: RespWire; g: RespWire }>();
  const open = async (on: string) => {
    let c = conns.get(on);
    if (!c) {
      c = {
        r: await RespWire.open(target.redisPort),
        g: await RespWire.open(target.sidecar.addresses.resp as string),
      };
      conns.set(on, c);
    }
    return c;
  };
  try {
    for (const [i, step] of steps.entries()) {
      const on = step.on ?? 'main';
      const { r, g } = await open(on);
      if (step.cmd) {
        r.send(step.cmd);
        g.send(step.gc ?? step.cmd);
      }
      const want = await r.readUntilQuiet();
      let got: Buffer[];
      try {
        got = await g.read(want.length, 2000);
      } catch (err) {
        assert.unreachable(
          `${name} step ${i} ${JSON.stringify(step.cmd)}: ${(err as Error).message}; redis said ${JSON.stringify(normalize(want, false))}, groupcast ${JSON.stringify(g.unread.toString('latin1'))}`,
        );
        return;
      }
      assert.equal(
        normalize(got, step.anyInt ?? false),
        normalize(want, step.anyInt ?? false),
        `${name} step ${i} (${on}): ${JSON.stringify(step.cmd)}`,
      );
    }
    // Nothing more from groupcast than from Redis.
    for (const [on, { g }] of conns) {
      const extra = await g.readUntilQuiet(40);
      assert.equal(normalize(extra, false), [], `${name}: extra replies on ${on}`);
    }
  } finally {
    for (const { r, g } of conns.values()) {
      r.close();
      g.close();
    }
    // Let both servers see the connections go before the next sequence.
    await sleep(50);
  }
}

const plain = { redisPort: redis.port, sidecar: sc };
const authed = { redisPort: authRedis.port, sidecar: scAuth };

test('connection commands answer as Redis 7 does, errors included', async () => {
  await conform(
    'connection',
    [
      { cmd: ['PING'] },
      { cmd: ['ping', 'hi'] },
      { cmd: ['PING', 'a', 'b'] },
      { cmd: ['ECHO', 'x'] },
      { cmd: ['ECHO'] },
      { cmd: ['ECHO', 'a', 'b'] },
      { cmd: ['FOO', 'a', 'b'] },
      { cmd: ['FOO'] },
      { cmd: ['SELECT', '0'] },
      { cmd: ['SELECT', 'x'] },
      { cmd: ['SELECT', '0', '1'] },
      { cmd: ['CLIENT', 'ID'], anyInt: true },
      { cmd: ['CLIENT', 'GETNAME'] },
      { cmd: ['CLIENT', 'SETNAME', 'n1'] },
      { cmd: ['CLIENT', 'GETNAME'] },
      { cmd: ['CLIENT', 'SETNAME', 'a b'] },
      { cmd: ['CLIENT', 'SETNAME', ''] },
      { cmd: ['CLIENT', 'GETNAME'] },
      { cmd: ['CLIENT', 'BOGUS'] },
      { cmd: ['CLIENT'] },
      { cmd: ['CLIENT', 'SETNAME'] },
      { cmd: ['CLIENT', 'ID', 'x'] },
      { cmd: ['AUTH', 'x'] },
      { cmd: ['AUTH', 'a', 'b', 'c'] },
      { cmd: ['COMMAND', 'INFO', 'ping', 'echo', 'publish', 'subscribe', 'psubscribe'] },
      { cmd: ['INFO', 'bogus'] },
      { cmd: ['RESET'] },
      { cmd: ['QUIT'] },
    ],
    plain,
  );
});

test('HELLO switches protocol and answers its errors as Redis does', async () => {
  await conform(
    'hello',
    [
      { cmd: ['HELLO'] },
      { cmd: ['HELLO', '4'] },
      { cmd: ['HELLO', 'x'] },
      { cmd: ['HELLO', '3', 'FOO'] },
      { cmd: ['HELLO', '3', 'AUTH', 'a'] },
      { cmd: ['HELLO', '3', 'SETNAME', 'nm'] },
      { cmd: ['CLIENT', 'GETNAME'] },
      { cmd: ['CLIENT', 'SETNAME', ''] },
      { cmd: ['CLIENT', 'GETNAME'] },
      { cmd: ['PING'] },
      { cmd: ['COMMAND', 'INFO', 'echo', 'publish'] },
      { cmd: ['HELLO', '2'] },
      { cmd: ['RESET'] },
      { cmd: ['CLIENT', 'GETNAME'] },
    ],
    plain,
  );
});

test('RESP2 subscribed mode: replies, counts, allowed commands and its error', async () => {
  await conform(
    'resp2-subscribed',
    [
      { cmd: ['SUBSCRIBE', 'a', 'b'] },
      { cmd: ['PING'] },
      { cmd: ['PING', 'x'] },
      { cmd: ['ECHO', 'x'] },
      { cmd: ['HELLO', '3'] },
      { cmd: ['FOO'] },
      { cmd: ['PSUBSCRIBE', 'a*', 'b?'] },
      { cmd: ['SSUBSCRIBE', 's1', 's2'] },
      { cmd: ['SUBSCRIBE', 'a'] },
      { cmd: ['UNSUBSCRIBE', 'zz'] },
      { cmd: ['UNSUBSCRIBE', 'a'] },
      { cmd: ['PUNSUBSCRIBE', 'b?'] },
      { cmd: ['SUNSUBSCRIBE', 's1', 's2'] },
      { cmd: ['SUNSUBSCRIBE'] },
      { cmd: ['UNSUBSCRIBE'] },
      { cmd: ['PUNSUBSCRIBE'] },
      { cmd: ['UNSUBSCRIBE'] },
      { cmd: ['PUNSUBSCRIBE'] },
      { cmd: ['SUBSCRIBE'] },
      { cmd: ['PING'] },
      { cmd: ['SUBSCRIBE', 'c'] },
      { cmd: ['RESET'] },
      { cmd: ['ECHO', 'after reset'] },
    ],
    plain,
  );
});

test('messages reach channel, pattern and shard subscribers as message/pmessage/smessage, RESP2 and RESP3', async () => {
  const binary = Buffer.from([0x68, 0x0d, 0x0a, 0x00, 0xff, 0x24, 0x2a]);
  await conform(
    'messages',
    [
      { on: 'sub2', cmd: ['SUBSCRIBE', 'news'] },
      // One matching pattern per connection: Redis walks a client's patterns in hash order.
      { on: 'pat2', cmd: ['PSUBSCRIBE', 'n*', 'zz'] },
      { on: 'pat3', cmd: ['PSUBSCRIBE', 'ne[wx]?'] },
      { on: 'sub3', cmd: ['HELLO', '3'] },
      { on: 'sub3', cmd: ['SUBSCRIBE', 'news', 'other'] },
      // Channel and pattern on one connection: a message and a pmessage, counted twice.
      { on: 'sub3', cmd: ['PSUBSCRIBE', 'new?'] },
      { on: 'sub3', cmd: ['SSUBSCRIBE', 'shard'] },
      { on: 'pub', cmd: ['PUBLISH', 'news', 'hello'] },
      { on: 'sub2' },
      { on: 'pat2' },
      { on: 'pat3' },
      { on: 'sub3' },
      { on: 'pub', cmd: ['PUBLISH', 'news', binary] },
      { on: 'sub2' },
      { on: 'pat2' },
      { on: 'pat3' },
      { on: 'sub3' },
      { on: 'pub', cmd: ['PUBLISH', 'nobody', 'x'] },
      { on: 'pub', cmd: ['PUBLISH', 'newt', 'y'] },
      { on: 'pat2' },
      { on: 'pat3' },
      { on: 'sub3' },
      { on: 'sub3', cmd: ['SPUBLISH', 'shard', 'yo'] },
      { on: 'sub3', cmd: ['PING'] },
      { on: 'sub3', cmd: ['ECHO', 'allowed in RESP3'] },
      { on: 'sub3', cmd: ['UNSUBSCRIBE', 'other'] },
      { on: 'pub', cmd: ['PUBLISH', 'other', 'gone'] },
      { on: 'pub', cmd: ['PUBLISH'] },
      { on: 'pub', cmd: ['PUBLISH', 'a'] },
      { on: 'pub', cmd: ['SPUBLISH', 's'] },
      { on: 'sub3', cmd: ['UNSUBSCRIBE'] },
      { on: 'sub3', cmd: ['SUNSUBSCRIBE'] },
      { on: 'sub3', cmd: ['UNSUBSCRIBE'] },
      { on: 'sub3', cmd: ['PUNSUBSCRIBE'] },
    ],
    plain,
  );
});

test('PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB and their errors', async () => {
  await conform(
    'pubsub',
    [
      { on: 'sub', cmd: ['SUBSCRIBE', 'alpha', 'beta'] },
      { on: 'sub2', cmd: ['SUBSCRIBE', 'alpha'] },
      { on: 'pat', cmd: ['PSUBSCRIBE', 'al*', 'x*'] },
      { on: 'pat2', cmd: ['PSUBSCRIBE', 'al*'] },
      { cmd: ['PUBSUB', 'NUMSUB', 'alpha', 'beta', 'gamma'] },
      { cmd: ['PUBSUB', 'NUMSUB'] },
      { cmd: ['PUBSUB', 'NUMPAT'] },
      { cmd: ['PUBSUB', 'CHANNELS', 'al*'] },
      { cmd: ['PUBSUB', 'CHANNELS', 'b[e]t?'] },
      { cmd: ['PUBSUB', 'CHANNELS', 'zzz*'] },
      { cmd: ['PUBSUB', 'SHARDCHANNELS', 'none*'] },
      { cmd: ['PUBSUB', 'SHARDNUMSUB', 'none'] },
      { cmd: ['PUBSUB', 'FOO'] },
      { cmd: ['PUBSUB'] },
      { cmd: ['PUBSUB', 'NUMPAT', 'x'] },
      { cmd: ['PUBSUB', 'CHANNELS', 'a', 'b'] },
    ],
    plain,
  );
});

test('pipelined commands, inline commands and protocol errors as Redis sends them', async () => {
  await conform(
    'protocol',
    [
      { cmd: 'PING\r\nPING  hello\r\n\r\nECHO "a b"\r\n' },
      { cmd: '*1\r\n$4\r\nPING\r\n*0\r\n*2\r\n$4\r\nECHO\r\n$3\r\nx\ry\r\n' },
      { cmd: '*2\r\n$4\r\nEC' },
      { cmd: 'HO\r\n$5\r\nsp' },
      { cmd: 'lit\r\n' },
      { cmd: 'ECHO "unbalanced\r\n' },
    ],
    plain,
  );
  await conform('protocol-multibulk', [{ cmd: '*x\r\n' }], plain);
  await conform('protocol-bulk', [{ cmd: '*1\r\n$-5\r\n' }], plain);
  await conform('protocol-dollar', [{ cmd: '*1\r\n+PING\r\n' }], plain);
});

test('auth: NOAUTH before AUTH, WRONGPASS, then NOPERM per channel with Redis shapes', async () => {
  await conform(
    'auth',
    [
      { cmd: ['PING'] },
      { cmd: ['SUBSCRIBE', 'a'] },
      { cmd: ['PUBLISH', 'a', 'x'] },
      { cmd: ['HELLO'] },
      { cmd: ['HELLO', '3'] },
      { cmd: ['CLIENT', 'ID'] },
      { cmd: ['FOO'] },
      { cmd: ['AUTH', 'wrong'] },
      { cmd: ['AUTH', 'secret'] },
      { cmd: ['PING'] },
      { cmd: ['RESET'] },
      { cmd: ['PING'] },
      { cmd: ['AUTH', 'alice', 'pw'], gc: ['AUTH', 'alice', newsToken] },
      { cmd: ['SUBSCRIBE', 'nope'] },
      { cmd: ['SUBSCRIBE', 'news1', 'nope'] },
      { cmd: ['PSUBSCRIBE', 'n*'] },
      { cmd: ['SSUBSCRIBE', 'nope'] },
      { cmd: ['PUBLISH', 'nope', 'x'] },
      { cmd: ['PUBLISH', 'news1', 'x'] },
      { cmd: ['SUBSCRIBE', 'news1'] },
      { cmd: ['QUIT'] },
    ],
    authed,
  );
  await conform(
    'hello-auth',
    [
      { cmd: ['HELLO', '3', 'AUTH', 'alice', 'nope'], gc: ['HELLO', '3', 'AUTH', 'alice', 'x'] },
      {
        cmd: ['HELLO', '3', 'AUTH', 'alice', 'pw'],
        gc: ['HELLO', '3', 'AUTH', 'alice', newsToken],
      },
      { cmd: ['PSUBSCRIBE', 'news*'] },
      { cmd: ['RESET'] },
      { cmd: ['PING'] },
    ],
    authed,
  );
});

test.after(async () => {
  await Promise.all([sc.close(), scAuth.close()]);
  await Promise.all([redis.stop(), authRedis.stop()]);
});

test.run();
