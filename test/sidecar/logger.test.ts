import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventText } from '../../shared/log-line.ts';
import { createLogger, logFormatFor } from '../../sidecar/logger.ts';
import { ROOT, spawnProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const BIN = join(ROOT, 'sidecar', 'bin.js');
const prettyLoaded = () =>
  Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/pino-pretty/'));

/** A destination that keeps what the logger writes. */
function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

// First in this file: nothing before it may have loaded pino-pretty.
test('the JSON form is one object a line with every field, and never loads pino-pretty', () => {
  const out = capture();
  const log = createLogger('info', { format: 'json', destination: out.destination });
  log.info({ group: 'lobby', member: 'm1', transport: 'tcp', remote: '127.0.0.1:52878' }, 'join');
  const rec = JSON.parse(out.lines.join(''));
  assert.equal(
    { level: rec.level, msg: rec.msg, group: rec.group, member: rec.member, remote: rec.remote },
    { level: 'info', msg: 'join', group: 'lobby', member: 'm1', remote: '127.0.0.1:52878' },
  );
  assert.match(rec.time, /^\d{4}-\d\d-\d\dT/);
  assert.not.ok(prettyLoaded(), 'pino-pretty stays unloaded on the JSON path');
});

test('auto is pretty on a terminal and JSON on a pipe or a file; an explicit choice wins', () => {
  assert.is(logFormatFor('auto', true), 'pretty');
  assert.is(logFormatFor('auto', false), 'json');
  assert.is(logFormatFor('json', true), 'json');
  assert.is(logFormatFor('pretty', false), 'pretty');
});

test('an event reads as words: message, group, transport, address, then other details', () => {
  const join = { msg: 'join', group: 'lobby', member: 'x1', transport: 'tcp', remote: '1.2.3.4:5' };
  assert.is(eventText(join), 'join lobby tcp 1.2.3.4:5');
  assert.is(
    eventText({ msg: 'rejected', remote: '1.2.3.4:5', code: 'BAD_JOIN', err: 'no prefix here' }),
    'rejected 1.2.3.4:5 code=BAD_JOIN err="no prefix here"',
  );
  // Values the message already says are not repeated.
  assert.is(
    eventText({
      msg: 'tcp listening on 127.0.0.1:7400',
      transport: 'tcp',
      address: '127.0.0.1:7400',
    }),
    'tcp listening on 127.0.0.1:7400',
  );
});

test('the pretty form is one line per event: time, level, message with group and member', () => {
  const out = capture();
  const log = createLogger('info', {
    format: 'pretty',
    destination: out.destination,
    terminal: false,
  });
  log.info({ group: 'lobby', member: 'm1', transport: 'tcp', remote: '127.0.0.1:52878' }, 'join');
  log.warn({ remote: '127.0.0.1:9', code: 'BAD_JOIN' }, 'rejected');
  assert.is(out.lines.length, 2);
  assert.match(
    out.lines[0],
    /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: join lobby tcp 127\.0\.0\.1:52878\n$/,
  );
  assert.match(out.lines[1], /^\[[\d:.]+\] WARN: rejected 127\.0\.0\.1:9 code=BAD_JOIN\n$/);
});

test('GROUPCAST_LOG_FORMAT=pretty: a real sidecar logs a TCP join as "join <group> tcp <address>"', async () => {
  const env = {
    GROUPCAST_LOG_FORMAT: 'pretty',
    GROUPCAST_TCP_PORT: '0',
    GROUPCAST_UDP_PORT: 'off',
    GROUPCAST_HTTP_PORT: 'off',
    GROUPCAST_RESP_PORT: 'off',
  };
  const p = spawnProcess(process.execPath, [BIN, 'serve'], env);
  try {
    const listening = await waitFor(
      () => /INFO: tcp listening on (127\.0\.0\.1:\d+)/.exec(p.stdout()),
      10_000,
      `the listening line in ${p.stdout()}`,
    );
    const peer = await TcpPeer.open(listening?.[1] ?? '', 'lobby');
    const local = `127.0.0.1:${peer.socket.localPort}`;
    await waitFor(() => p.stdout().includes(`INFO: join lobby tcp ${local}\n`), 5000, 'join line');
    assert.not.match(p.stdout(), /^\{/m, 'no JSON line');
    peer.close();
  } finally {
    assert.is(await p.stop('SIGTERM'), 0);
  }
  // Every line is out before the process exits, in the order it was logged.
  assert.match(
    p.stdout(),
    /INFO: shutting down signal=SIGTERM\n(.*\n)*.*INFO: stopped\n/,
    p.stdout(),
  );
  const times = p
    .stdout()
    .trim()
    .split('\n')
    .map((l) => l.slice(1, 13));
  assert.equal(times, [...times].sort(), p.stdout());
});

test('a sidecar whose stdout is a pipe logs JSON by default (auto)', async () => {
  const env = {
    GROUPCAST_TCP_PORT: '0',
    GROUPCAST_UDP_PORT: 'off',
    GROUPCAST_HTTP_PORT: 'off',
    GROUPCAST_RESP_PORT: 'off',
  };
  const p = spawnProcess(process.execPath, [BIN, 'serve'], env);
  try {
    await waitFor(() => p.stdout().includes('listening on'), 10_000, 'listening');
  } finally {
    await p.stop('SIGTERM');
  }
  for (const line of p.stdout().trim().split('\n')) JSON.parse(line);
});

test('a bad GROUPCAST_LOG_FORMAT stops start-up with one line naming the option', async () => {
  const { runProcess } = await import('../helpers/process.ts');
  const r = await runProcess(process.execPath, [BIN, 'serve'], { GROUPCAST_LOG_FORMAT: 'fancy' });
  assert.is(r.code, 2);
  assert.match(
    r.stderr,
    /^groupcast: invalid value for logFormat \(GROUPCAST_LOG_FORMAT\): "fancy"/,
  );
});

test.run();
