import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runProcess, startProcess } from '../helpers/process.ts';
import { sleep } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const NODE = process.execPath;
const BIN = join(ROOT, 'sidecar', 'bin.js');
const FREE = {
  GROUPCAST_TCP_PORT: '0',
  GROUPCAST_UDP_PORT: '0',
  GROUPCAST_HTTP_PORT: '0',
  GROUPCAST_RESP_PORT: 'off',
};

test('npm start passes SocketForwarder dotted keys through to the sidecar', async () => {
  const env = {
    'socketforwarder.tcp.port': '0',
    'socketforwarder.udp.port': '0',
    'socketforwarder.host_address': '127.0.0.1',
    'socketforwarder.new_client_prefix': 'JOIN-ME:',
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
  };
  const p = await startProcess('npm', ['start', '--silent'], env, ['tcp', 'udp']);
  try {
    assert.match(p.addresses.tcp, /^127\.0\.0\.1:\d+$/);
    assert.not.match(p.addresses.tcp, /:0$/, 'prints the port really bound');
    assert.match(p.stdout(), /SocketForwarder keys found/);
    // The prefix from the dotted key is in force, and framing is SocketForwarder's (raw).
    const a = await TcpPeer.open(p.addresses.tcp, 'g', 'JOIN-ME:');
    const b = await TcpPeer.open(p.addresses.tcp, 'g', 'JOIN-ME:');
    await sleep(200);
    a.write('no newline needed');
    await b.waitForText('no newline needed');
    a.close();
    b.close();
  } finally {
    assert.is(await p.stop('SIGTERM'), 0, 'SIGTERM exits 0');
  }
});

test('a listen backlog above net.core.somaxconn is named at start-up; the listeners still take connections', async () => {
  const backlog = 65535;
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  const env = { ...FREE, GROUPCAST_HOST: '127.0.0.1', GROUPCAST_LISTEN_BACKLOG: String(backlog) };
  const p = await startProcess(NODE, [BIN, 'serve'], env, ['tcp', 'http']);
  try {
    const warning = /caps the accept queue at net\.core\.somaxconn=(\d+)/.exec(p.stdout());
    if (somaxconn < backlog) assert.is(Number(warning?.[1]), somaxconn, p.stdout());
    else assert.is(warning, null, 'no warning when the kernel allows the backlog');
    const peer = await TcpPeer.open(p.addresses.tcp, 'g');
    await sleep(100);
    const metrics = await (await fetch(`http://${p.addresses.http}/metrics`)).text();
    assert.match(metrics, /^groupcast_connections_accepted_total\{transport="tcp"\} 1$/m);
    peer.close();
  } finally {
    await p.stop('SIGTERM');
  }
  const bad = await runProcess(NODE, [BIN, 'serve'], { ...FREE, GROUPCAST_LISTEN_BACKLOG: '0' });
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /listenBacklog/);
});

test('the package bin honours dotted keys and SocketForwarder positional ports', async () => {
  const env = {
    'socketforwarder.udp.port': '0',
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
  };
  const p = await startProcess(NODE, [BIN, '0'], env, ['tcp', 'udp']);
  try {
    assert.match(p.addresses.tcp, /^0\.0\.0\.0:\d+$/, "SocketForwarder's default host");
  } finally {
    assert.is(await p.stop('SIGINT'), 0, 'SIGINT exits 0');
  }
});

test('underscore spellings work where a shell cannot set dotted names', async () => {
  const env = {
    SOCKETFORWARDER_TCP_PORT: '0',
    SOCKETFORWARDER_UDP_PORT: 'off',
    GROUPCAST_HOST: '127.0.0.1',
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
  };
  const p = await startProcess(NODE, [BIN, 'serve'], env, ['tcp']);
  try {
    assert.is(p.addresses.udp, undefined, 'udp turned off');
  } finally {
    await p.stop();
  }
});

test('SIGTERM closes member sockets and exits 0', async () => {
  const p = await startProcess(NODE, [BIN, 'serve'], FREE, ['tcp', 'udp']);
  const a = await TcpPeer.open(p.addresses.tcp, 'x');
  await sleep(100);
  assert.is(await p.stop('SIGTERM'), 0);
  await a.waitClosed(3000);
});

test('a bad value exits 2 before listening, with one line naming the option and value', async () => {
  for (const [env, args, re] of [
    [
      { GROUPCAST_TCP_PORT: 'abc' },
      [],
      /^groupcast: invalid value for tcpPort \(GROUPCAST_TCP_PORT\): "abc"/,
    ],
    [{ 'socketforwarder.udp.port': '-5' }, [], /udpPort \(socketforwarder\.udp\.port\): "-5"/],
    [{}, ['--tcp-framing', 'json'], /tcpFraming \(--tcp-framing\): "json"/],
  ] as const) {
    const r = await runProcess(NODE, [BIN, 'serve', ...args], { ...FREE, ...env });
    assert.is(r.code, 2);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, 'exactly one line');
    assert.not.match(r.stdout, /listening/);
  }
});

test('a port already in use stops start-up with a clear error', async () => {
  const p = await startProcess(NODE, [BIN, 'serve'], FREE, ['tcp']);
  try {
    const port = p.addresses.tcp.split(':').pop() as string;
    const r = await runProcess(NODE, [BIN, 'serve'], { ...FREE, GROUPCAST_TCP_PORT: port });
    assert.is(r.code, 1);
    assert.match(r.stderr, /cannot start: .*EADDRINUSE/);
  } finally {
    await p.stop();
  }
});

test('--config file < environment < flags', async () => {
  const file = join(tmpdir(), `groupcast-config-${process.pid}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      host: '127.0.0.1',
      tcpPort: 0,
      udpPort: 'off',
      httpPort: 'off',
      prefix: 'FILE:',
    }),
  );
  const p = await startProcess(
    NODE,
    [BIN, 'serve', '--config', file, '--prefix', 'FLAG:'],
    { GROUPCAST_PREFIX: 'ENV:' },
    ['tcp'],
  );
  try {
    assert.is(p.addresses.udp, undefined);
    const a = await TcpPeer.open(p.addresses.tcp, 'g', 'FLAG:');
    const b = await TcpPeer.open(p.addresses.tcp, 'g', 'FLAG:');
    await sleep(100);
    a.write('via-flag-prefix\n');
    await b.waitForText('via-flag-prefix\n');
    a.close();
    b.close();
  } finally {
    await p.stop();
  }
});

test('--help lists every option with its environment name', async () => {
  const r = await runProcess(NODE, [BIN, 'serve', '--help']);
  assert.is(r.code, 0);
  for (const name of [
    'GROUPCAST_HOST',
    'GROUPCAST_TCP_PORT',
    'GROUPCAST_TCP_FRAMING',
    'GROUPCAST_MAX_MESSAGE_BYTES',
    'GROUPCAST_UDP_GROUP',
    'GROUPCAST_LOG_LEVEL',
    '--tcp-port',
  ]) {
    assert.ok(r.stdout.includes(name), name);
  }
});

test.run();
