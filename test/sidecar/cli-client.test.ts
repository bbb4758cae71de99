import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Sidecar } from '../../sidecar/server.ts';
import { baseUrl, post } from '../helpers/http.ts';
import { ROOT, runProcess, spawnProcess } from '../helpers/process.ts';
import { TcpProxy } from '../helpers/proxy.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const NODE = process.execPath;
const BIN = join(ROOT, 'sidecar', 'bin.js');
let sc: Sidecar;
const cleanup: (() => unknown)[] = [];

test.before.each(async () => {
  sc = await startTestSidecar();
});
test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await sc.close();
});

const cli = (args: string[], env: Record<string, string> = {}, input?: string) =>
  runProcess(NODE, [BIN, ...args], { GROUPCAST_URL: baseUrl(sc), ...env }, 20_000, input);

function oneLine(text: string): string {
  const lines = text.trim().split('\n');
  assert.is(lines.length, 1, `exactly one line: ${JSON.stringify(text)}`);
  return lines[0];
}

test('--help on every command: usage, options with environment names, exit codes', async () => {
  const top = await cli(['--help']);
  assert.is(top.code, 0);
  for (const c of ['serve', 'tail <group>', 'send <group> [message]', 'groups']) {
    assert.ok(top.stdout.includes(c), c);
  }
  for (const cmd of ['tail', 'send', 'groups']) {
    const r = await cli([cmd, '--help']);
    assert.is(r.code, 0, cmd);
    assert.match(r.stdout, new RegExp(`^Usage: groupcast ${cmd}`));
    assert.ok(r.stdout.includes('GROUPCAST_URL') && r.stdout.includes('--token'), cmd);
    assert.match(r.stdout, /Exit codes: 0 ok, 1 .*, 2 bad usage/);
  }
});

test('send <group> <message> publishes it and prints its id', async () => {
  const peer = await TcpPeer.open(sc.addresses.tcp as string, 'lobby');
  cleanup.push(() => peer.close());
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.tcp === 1);
  const r = await cli(['send', 'lobby', 'hello from the cli']);
  assert.is(r.code, 0, r.stderr);
  assert.match(oneLine(r.stdout), /^\d+-1$/);
  await peer.waitForText('hello from the cli\n');
});

test('send <group> without a message sends each stdin line, in order, skipping blanks', async () => {
  const peer = await TcpPeer.open(sc.addresses.tcp as string, 'lines');
  cleanup.push(() => peer.close());
  await waitFor(() => sc.hub.findGroup('lines')?.counts.tcp === 1);
  const r = await cli(['send', 'lines', '--format', 'json'], {}, 'one\r\ntwo\n\nthree');
  assert.is(r.code, 0, r.stderr);
  const out = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(out.length, 3);
  assert.ok(out.every((o) => o.recipients === 1 && /^\d+-\d+$/.test(o.id)));
  await peer.waitForText('one\ntwo\nthree\n');
});

test('send splits stdin only at LF (and CRLF): a lone CR stays inside its line', async () => {
  const r = await cli(['send', 'cr'], {}, 'one\rtwo\nthree\r\nfour\r');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim().split('\n').length, 3, r.stdout);
  const page = await (await fetch(`${baseUrl(sc)}/groups/cr/messages`)).json();
  assert.equal(
    page.messages.map((m: { data: string }) => m.data),
    ['one\rtwo', 'three', 'four'],
  );
});

test('groups prints a table, or JSON', async () => {
  const peer = await TcpPeer.open(sc.addresses.tcp as string, 'lobby');
  cleanup.push(() => peer.close());
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.tcp === 1);
  const { json } = await post(sc, 'lobby', 'x');
  const r = await cli(['groups']);
  assert.is(r.code, 0, r.stderr);
  const [header, row, ...rest] = r.stdout.trimEnd().split('\n');
  assert.match(header, /^GROUP\s+TCP\s+UDP\s+SSE\s+RESP\s+LAST ID$/);
  assert.equal(row.split(/\s+/), ['lobby', '1', '0', '0', '0', json.ids[0]]);
  assert.is(rest.length, 0);
  const j = await cli(['groups', '--format=json']);
  assert.is(JSON.parse(j.stdout).groups[0].group, 'lobby');
  await sc.close();
  sc = await startTestSidecar();
  assert.is((await cli(['groups'])).stdout, 'no groups\n');
});

test('tail prints messages as they come and resumes after a dropped connection', async () => {
  const proxy = await TcpProxy.open(sc.addresses.http as string);
  cleanup.push(() => proxy.close());
  const tail = spawnProcess(NODE, [BIN, 'tail', 'room', '--url', proxy.url]);
  cleanup.push(() => tail.stop('SIGKILL'));
  await waitFor(() => sc.hub.findGroup('room')?.counts.sse === 1, 10_000, 'tail subscribed');
  await post(sc, 'room', 'first');
  await waitFor(() => tail.stdout() === 'first\n', 5000, 'first line');
  proxy.cut();
  await post(sc, 'room', 'while away');
  await waitFor(() => tail.stdout().includes('while away'), 10_000, 'resumed');
  await post(sc, 'room', Uint8Array.of(0xff, 0x01));
  await waitFor(() => tail.stdout().includes('base64:'), 5000, 'binary line');
  assert.is(tail.stdout(), 'first\nwhile away\nbase64:/wE=\n', 'each message once, in order');
  assert.match(tail.stderr(), /groupcast tail: reconnecting in \d+\.\d s/);
  assert.match(tail.stderr(), /groupcast tail: reconnected/);
  assert.is(await tail.stop('SIGINT'), 0, 'Ctrl-C exits 0');
});

test('tail --format json reports a gap for an id the server does not hold', async () => {
  await post(sc, 'j', 'held');
  const tail = spawnProcess(NODE, [
    BIN,
    'tail',
    'j',
    '--url',
    baseUrl(sc),
    '--format',
    'json',
    '--last-event-id',
    '1-1',
  ]);
  cleanup.push(() => tail.stop('SIGKILL'));
  await waitFor(() => tail.stdout().split('\n').length >= 3, 10_000, 'two lines');
  const [gap, msg] = tail
    .stdout()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(gap.type, 'gap');
  assert.is(gap.requested, '1-1');
  assert.equal([msg.type, msg.encoding, msg.data], ['message', 'utf8', 'held']);
  assert.is(await tail.stop('SIGTERM'), 0);
});

test('--token / GROUPCAST_TOKEN authenticates when the server has auth on', async () => {
  await sc.close();
  sc = await startTestSidecar({ apiKeys: ['cli-key'] });
  const denied = await cli(['groups']);
  assert.is(denied.code, 1);
  assert.match(oneLine(denied.stderr), /^groupcast groups: UNAUTHORIZED: .*\(HTTP 401\)$/);
  const sent = await cli(['send', 'lobby', 'with a key', '--token', 'cli-key']);
  assert.is(sent.code, 0, sent.stderr);
  const listed = await cli(['groups'], { GROUPCAST_TOKEN: 'cli-key' });
  assert.match(listed.stdout, /^lobby\s+0\s+0\s+0\s+0\s+\d+-1$/m);
});

test('errors: one line each; 1 for runtime failures, 2 for bad usage', async () => {
  const cases: [string[], Record<string, string>, number, RegExp][] = [
    [['groups'], { GROUPCAST_URL: 'http://127.0.0.1:9' }, 1, /^groupcast groups: cannot reach/],
    [['send', 'lobby', 'two\nlines'], {}, 1, /^groupcast send: UNFRAMEABLE: .*\(HTTP 400\)$/],
    [['tail', 'x', '--url', `${baseUrl(sc)}/wrong`], {}, 1, /^groupcast tail: NOT_FOUND: /],
    [['send'], {}, 2, /^groupcast send: missing arguments; usage: groupcast send <group>/],
    [['send', 'bad group', 'x'], {}, 2, /^groupcast send: invalid group id/],
    [['groups', '--format', 'xml'], {}, 2, /format \(--format\): "xml"/],
    [['groups', '--nope'], {}, 2, /--nope/],
    [['groups'], { GROUPCAST_URL: 'ftp://x' }, 2, /url \(GROUPCAST_URL\)/],
    [['frobnicate'], {}, 2, /^groupcast: unknown command "frobnicate"/],
  ];
  for (const [args, env, code, re] of cases) {
    const r = await cli(args, env);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), re);
    assert.is(r.stdout, '', args.join(' '));
  }
});

test.run();
