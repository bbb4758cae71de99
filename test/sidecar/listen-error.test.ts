import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runProcess } from '../helpers/process.ts';

const BIN = join(ROOT, 'sidecar', 'bin.js');
const OFF = {
  GROUPCAST_TCP_PORT: 'off',
  GROUPCAST_UDP_PORT: 'off',
  GROUPCAST_HTTP_PORT: 'off',
  GROUPCAST_RESP_PORT: 'off',
};

/** A TCP port on 127.0.0.1 that someone else holds, for as long as `use` runs. */
async function heldTcpPort<T>(use: (port: number) => Promise<T>): Promise<T> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use((server.address() as { port: number }).port);
  } finally {
    server.close();
  }
}

async function heldUdpPort<T>(use: (port: number) => Promise<T>): Promise<T> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  try {
    return await use(socket.address().port);
  } finally {
    socket.close();
  }
}

for (const [listener, env, flag, held] of [
  ['HTTP', 'GROUPCAST_HTTP_PORT', '--http-port', heldTcpPort],
  ['TCP', 'GROUPCAST_TCP_PORT', '--tcp-port', heldTcpPort],
  ['UDP', 'GROUPCAST_UDP_PORT', '--udp-port', heldUdpPort],
  ['RESP', 'GROUPCAST_RESP_PORT', '--resp-port', heldTcpPort],
] as const) {
  test(`a ${listener} port in use: one line naming ${env} / ${flag} and the address, exit 1`, async () => {
    await held(async (port) => {
      const r = await runProcess(process.execPath, [BIN, 'serve'], {
        ...OFF,
        GROUPCAST_HOST: '127.0.0.1',
        [env]: String(port),
      });
      assert.is(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, r.stderr);
      const expected = `groupcast: cannot start: cannot listen on 127.0.0.1:${port} (${env} / ${flag}): address already in use`;
      assert.ok(lines[0].startsWith(expected), lines[0]);
      // On a pipe, the JSON log carries the same, with its code, for a log pipeline.
      const records = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const fatal = records.find((rec) => rec.level === 'fatal');
      assert.is(fatal?.code, 'CANNOT_LISTEN', r.stdout);
      assert.ok(fatal.err.startsWith(expected.slice('groupcast: cannot start: '.length)));
    });
  });
}

test('an address not on this machine names the listener and points at GROUPCAST_HOST', async () => {
  const r = await runProcess(process.execPath, [BIN, 'serve'], {
    ...OFF,
    GROUPCAST_HOST: '192.0.2.1', // TEST-NET-1: never a local address
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
  });
  assert.is(r.code, 1);
  assert.match(
    r.stderr,
    /^groupcast: cannot start: cannot listen on 192\.0\.2\.1:0 \(GROUPCAST_HTTP_PORT \/ --http-port\): no such address on this machine \(EADDRNOTAVAIL\): see GROUPCAST_HOST \/ --host\n$/,
  );
});

test.run();
