import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveSidecarOptions } from '../../shared/options/sidecar.ts';

const code = (c: string) => (e: { code?: string }) => e.code === c;

test('options: defaults are the embedded single-node setup', () => {
  const { options, socketForwarderMode } = resolveSidecarOptions({}, []);
  assert.is(options.host, '127.0.0.1');
  assert.is(options.tcpPort, 7400);
  assert.is(options.udpPort, 7401);
  assert.is(options.httpPort, 7480);
  assert.is(options.tcpFraming, 'line');
  assert.is(options.maxMessageBytes, 1024 * 1024);
  assert.is(options.prefix, 'SOCKETFORWARDER-NEW:');
  assert.is(options.udpGroup, 'udp');
  assert.is(socketForwarderMode, false);
  assert.ok(Object.isFrozen(options));
});

test('options: precedence is default < file < environment < flag', () => {
  const file = { tcpPort: 1001, udpPort: 2001, httpPort: 3001 };
  const env = { GROUPCAST_UDP_PORT: '2002', GROUPCAST_HTTP_PORT: '3002' };
  const { options } = resolveSidecarOptions(env, ['--http-port', '3003'], file);
  assert.is(options.tcpPort, 1001);
  assert.is(options.udpPort, 2002);
  assert.is(options.httpPort, 3003);
  assert.is(resolveSidecarOptions({}, ['--http-port=3004']).options.httpPort, 3004);
});

test('options: GROUPCAST_* beats a SocketForwarder key; dotted and underscore keys both work', () => {
  const env = {
    'socketforwarder.tcp.port': '5000',
    GROUPCAST_TCP_PORT: '5001',
    SOCKETFORWARDER_UDP_PORT: '5002',
  };
  const { options } = resolveSidecarOptions(env, []);
  assert.is(options.tcpPort, 5001);
  assert.is(options.udpPort, 5002);
});

test('options: every SocketForwarder key maps to its option', () => {
  const { options, socketForwarderMode } = resolveSidecarOptions(
    {
      'socketforwarder.tcp.port': '6753',
      'socketforwarder.udp.port': '33345',
      'socketforwarder.new_client_prefix': 'JOIN:',
      'socketforwarder.max_read_in_size': '10240',
      'socketforwarder.host_address': '127.0.0.2',
      'socketforwarder.tcp.preconfig_addresses': 'lobby:127.0.0.1:5555,games:[::1]:6666',
      'socketforwarder.udp.preconfig_addresses': '127.0.0.1:7777',
      'socketforwarder.debug': '',
    },
    [],
  );
  assert.ok(socketForwarderMode);
  assert.is(options.tcpPort, 6753);
  assert.is(options.udpPort, 33345);
  assert.is(options.prefix, 'JOIN:');
  assert.is(options.maxMessageBytes, 10240);
  assert.is(options.host, '127.0.0.2');
  assert.equal(options.tcpPreconfig, [
    { group: 'lobby', host: '127.0.0.1', port: 5555 },
    { group: 'games', host: '::1', port: 6666 },
  ]);
  assert.equal(options.udpPreconfig, [{ host: '127.0.0.1', port: 7777 }]);
  assert.is(options.logLevel, 'debug');
  assert.is(options.tcpFraming, 'raw', 'SocketForwarder forwards each read as it is');
});

test('options: SocketForwarder mode keeps explicit choices and binds all interfaces by default', () => {
  const env = { 'socketforwarder.tcp.port': '6753', GROUPCAST_TCP_FRAMING: 'length' };
  const { options } = resolveSidecarOptions(env, []);
  assert.is(options.tcpFraming, 'length');
  assert.is(options.host, '0.0.0.0');
});

test("options: SocketForwarder's positional <tcp-port> <udp-port>", () => {
  const { options, socketForwarderMode } = resolveSidecarOptions({}, ['6753', '33345']);
  assert.is(options.tcpPort, 6753);
  assert.is(options.udpPort, 33345);
  assert.ok(socketForwarderMode);
});

test('options: sizes and durations take units; off disables a listener', () => {
  const { options } = resolveSidecarOptions(
    {
      GROUPCAST_MAX_MESSAGE_BYTES: '64KiB',
      GROUPCAST_JOIN_TIMEOUT: '2.5s',
      GROUPCAST_UDP_PORT: 'off',
    },
    [],
  );
  assert.is(options.maxMessageBytes, 65536);
  assert.is(options.joinTimeoutMs, 2500);
  assert.is(options.udpPort, null);
});

test('options: a bad value names the option, where it came from and the value', () => {
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{ GROUPCAST_TCP_PORT: 'seventy' }, [], /tcpPort \(GROUPCAST_TCP_PORT\).*"seventy"/],
    [{}, ['--tcp-framing', 'xml'], /tcpFraming \(--tcp-framing\).*"xml".*line, raw, length/],
    [
      { 'socketforwarder.udp.port': '70000' },
      [],
      /udpPort \(socketforwarder\.udp\.port\).*"70000"/,
    ],
    [{ GROUPCAST_MAX_MESSAGE_BYTES: '1 lightyear' }, [], /maxMessageBytes/],
    [{ GROUPCAST_UDP_GROUP: 'has space' }, [], /udpGroup/],
    [{}, ['--bogus', '1'], /--bogus.*unknown option/],
    [{ GROUPCAST_TCP_PRECONFIG: 'lobby:nohostport' }, [], /tcpPreconfig/],
    [{}, ['1', '2', '3'], /at most/],
  ];
  for (const [env, argv, re] of cases) {
    assert.throws(
      () => resolveSidecarOptions(env, argv),
      (e: Error & { code?: string }) => {
        assert.is(e.code, 'INVALID_OPTION');
        assert.match(e.message, re);
        assert.not.match(e.message, /\n/);
        return true;
      },
    );
  }
});

test('options: the cluster options (Redis, node id, heartbeat, strict health)', () => {
  const d = resolveSidecarOptions({}, []).options;
  assert.is(d.redisUrl, null);
  assert.is(d.nodeId, null, 'random at start-up');
  assert.is(d.redisPrefix, 'groupcast:');
  assert.is(d.redisQueueBytes, 32 * 1024 * 1024);
  assert.is(d.nodeHeartbeatMs, 2000);
  assert.is(d.nodeExpiryMs, 10_000);
  assert.is(d.healthStrict, false);
  const { options } = resolveSidecarOptions(
    {
      GROUPCAST_REDIS_URL: 'redis://10.0.0.2:6379/1',
      GROUPCAST_NODE_ID: 'edge-1.eu',
      GROUPCAST_NODE_HEARTBEAT: '500ms',
      GROUPCAST_NODE_EXPIRY: '3s',
      GROUPCAST_REDIS_QUEUE_BYTES: '4MiB',
    },
    ['--health-strict', '--redis-prefix', 'gc1:'],
  );
  assert.is(options.redisUrl, 'redis://10.0.0.2:6379/1');
  assert.is(options.nodeId, 'edge-1.eu');
  assert.is(options.nodeHeartbeatMs, 500);
  assert.is(options.nodeExpiryMs, 3000);
  assert.is(options.redisQueueBytes, 4 * 1024 * 1024);
  assert.is(options.healthStrict, true);
  assert.is(options.redisPrefix, 'gc1:');
  assert.is(
    resolveSidecarOptions({ GROUPCAST_HEALTH_STRICT: 'true' }, ['--no-health-strict']).options
      .healthStrict,
    false,
  );
  assert.is(
    resolveSidecarOptions({}, ['--redis', 'rediss://x:6380']).options.redisUrl,
    'rediss://x:6380',
  );
  const bad: [Record<string, string>, string[], RegExp][] = [
    [{ GROUPCAST_NODE_ID: 'a:b' }, [], /nodeId/],
    [{ GROUPCAST_NODE_ID: 'x'.repeat(65) }, [], /nodeId/],
    [{}, ['--redis', 'http://localhost:6379'], /redisUrl/],
    [
      { GROUPCAST_NODE_HEARTBEAT: '5s', GROUPCAST_NODE_EXPIRY: '5s' },
      [],
      /nodeExpiryMs.*more than nodeHeartbeatMs/,
    ],
    [{}, ['--redis-prefix', 'a b'], /redisPrefix/],
  ];
  for (const [env, argv, re] of bad) {
    assert.throws(
      () => resolveSidecarOptions(env, argv),
      (e: Error & { code?: string }) => e.code === 'INVALID_OPTION' && re.test(e.message),
    );
  }
});

test('options: unknown config-file keys are refused', () => {
  assert.throws(() => resolveSidecarOptions({}, [], { tcpPrt: 1 }), code('INVALID_OPTION'));
});

test.run();
