/**
 * The dashboard end to end: a real sidecar process, a real TCP client, Debian's chromium driven
 * by playwright-core. Screenshots are kept in test-artifacts/ (not committed); with
 * GROUPCAST_UPDATE_SCREENSHOT=1 the group view is also copied to api/dashboard/screenshot.png,
 * the README's picture.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeTcp } from '../../api/client/node-transport.ts';
import { TcpClient } from '../../shared/client/tcp.ts';
import { ARTIFACTS, launchChromium, tableCells, until as untilFor } from '../helpers/browser.ts';
import { startEdgeProcess } from '../helpers/edge.ts';
import { ROOT, type Started, startProcess } from '../helpers/process.ts';
import { hostPort, sleep, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const NODE = process.execPath;
const BIN = join(ROOT, 'sidecar', 'bin.js');

/** The page's waits in this file, 8000 ms unless a test says otherwise. */
const until = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 8000) =>
  untilFor(read, ok, what, ms);

let browser: Browser;
let sidecar: Started;
let url: string;
let tcp: TcpClient;
const fromGroup: string[] = [];
const cleanup: (() => unknown)[] = [];

function startSidecar(tcpPort = '0', httpPort = '0'): Promise<Started> {
  const env = {
    GROUPCAST_HOST: '127.0.0.1',
    GROUPCAST_TCP_PORT: tcpPort,
    GROUPCAST_UDP_PORT: 'off',
    GROUPCAST_HTTP_PORT: httpPort,
    GROUPCAST_RESP_PORT: 'off',
  };
  return startProcess(NODE, [BIN, 'serve'], env, ['tcp', 'http']);
}

/** A page that records its errors and every URL it requests. */
async function openPage(options: Parameters<Browser['newPage']>[0] = {}) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 820 }, ...options });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text()))
      errors.push(m.text());
  });
  page.on('request', (r) => requests.push(r.url()));
  cleanup.push(() => page.close());
  return { page, errors, requests };
}

const cells = tableCells;
const state = (page: Page) =>
  page
    .locator('#conn')
    .evaluate((el) => [(el as HTMLElement).dataset.state, el.textContent?.trim()]);
const tailText = (page: Page) =>
  page
    .getByRole('log')
    .textContent()
    .then((t) => (t ?? '').trim());

test.before(async () => {
  browser = await launchChromium();
  sidecar = await startSidecar();
  url = `http://${sidecar.addresses.http}/`;
  tcp = new TcpClient({
    ...hostPort(sidecar.addresses.tcp),
    group: 'lobby',
    connect: nodeTcp,
    backoff: { initialMs: 100, maxMs: 500 },
    onMessage: (d) => fromGroup.push(new TextDecoder().decode(d)),
  });
});

test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

test.after(async () => {
  await tcp?.close();
  await browser?.close();
  await sidecar?.stop();
});

test('lists lobby with 1 TCP member, shows its messages live, and publishes into it', async () => {
  // Another group, so the list is a list.
  const other = await TcpPeer.open(sidecar.addresses.tcp, 'survival');
  cleanup.push(() => other.close());
  const { page, errors, requests } = await openPage();
  await page.goto(url);
  await until(
    () => cells(page, '#groups tbody tr'),
    (rows) => rows.some((r) => r[0] === 'lobby' && r[1] === '1' && r[2] === '0'),
    'lobby with 1 TCP member in the list',
  );
  assert.equal(await state(page), ['live', 'Live']);

  // Keyboard only: focus the group's link and press Enter.
  await page.getByRole('link', { name: 'lobby', exact: true }).focus();
  await page.keyboard.press('Enter');
  await until(
    () =>
      page
        .locator('#group-title')
        .textContent()
        .then((t) => (t ?? '').trim()),
    (t) => t === 'Group lobby',
    'view',
  );
  assert.is(await page.evaluate(() => document.activeElement?.id), 'group-title', 'focus moved');
  const members = await until(
    () => cells(page, '#members tbody tr'),
    (rows) => rows.filter((r) => r[0] === 'TCP').length === 1,
    'one TCP member in the members table',
  );
  assert.ok(
    members.some((r) => r[0] === 'SSE'),
    'the page itself is an SSE member',
  );
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live',
  );

  tcp.send('proxy-1: Steve joined the lobby');
  await until(
    () => tailText(page),
    (t) => t.includes('proxy-1: Steve joined the lobby'),
    'tail',
  );

  await page.getByLabel('Message to the group').fill('hello from the dashboard');
  await page.keyboard.press('Enter');
  await waitFor(() => fromGroup.includes('hello from the dashboard'), 5000, 'TCP delivery');
  const status = await until(
    () =>
      page
        .locator('#publish-status')
        .textContent()
        .then((t) => (t ?? '').trim()),
    (t) => t.startsWith('Sent as'),
    'publish status',
  );
  assert.match(status, /^Sent as \d+-\d+ to 2 members\.$/);
  await until(
    () => tailText(page),
    (t) => t.includes('hello from the dashboard'),
    'own message',
  );
  assert.is(await page.getByLabel('Message to the group').inputValue(), '', 'input cleared');

  tcp.send('lobby-2: tps=19.9 players=41');
  await until(
    () => tailText(page),
    (t) => t.includes('players=41'),
    'second message',
  );
  await until(
    () => page.locator('#group-summary').textContent(),
    (t) => t === '1 TCP member, 0 UDP members, 1 SSE member; 3 messages held for replay.',
    'counts refreshed after messages',
  );
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  if (process.env.GROUPCAST_UPDATE_SCREENSHOT === '1') {
    copyFileSync(
      join(ARTIFACTS, 'dashboard.png'),
      join(ROOT, 'api', 'dashboard', 'screenshot.png'),
    );
  }
  assert.equal(errors, []);
  const foreign = requests.filter((r) => !r.startsWith(url) && !r.startsWith('data:'));
  assert.equal(foreign, [], 'nothing loaded from elsewhere');
});

test('served by the edge worker, which has no presence events, the group view streams without them', async () => {
  const edge = await startEdgeProcess(sidecar.addresses.http);
  cleanup.push(() => edge.stop());
  const edgeUrl = `http://${edge.addresses.http}/`;
  const { page, errors, requests } = await openPage();
  await page.goto(`${edgeUrl}#/group/lobby`);
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live through the edge',
  );
  tcp.send('via the edge worker');
  await until(
    () => tailText(page),
    (t) => t.includes('via the edge worker'),
    'the message through the edge',
  );
  const streams = requests.filter((r) => r.includes('/groups/lobby/events'));
  // Asked once with presence (refused: 400), then without it, straight away.
  assert.ok(streams[0]?.includes('presence=true'), streams[0]);
  assert.ok(
    streams.length >= 2 && streams.slice(-1)[0]?.includes('presence') === false,
    String(streams),
  );
  assert.equal(errors, []);
});

test('a hub restart shows reconnecting, then live again with a visible gap notice', async () => {
  const { page } = await openPage();
  await page.goto(`${url}#/group/lobby`);
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live',
  );
  tcp.send('before the restart');
  await until(
    () => tailText(page),
    (t) => t.includes('before the restart'),
    'message',
  );

  const { tcp: tcpAddr, http: httpAddr } = sidecar.addresses;
  assert.is(await sidecar.stop(), 0);
  await until(
    () => state(page),
    (s) => s[0] === 'reconnecting',
    'reconnecting state',
    6000,
  );
  sidecar = await startSidecar(String(hostPort(tcpAddr).port), String(hostPort(httpAddr).port));

  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live again',
    15_000,
  );
  const log = await until(
    () => tailText(page),
    (t) => t.includes('Gap:'),
    'gap notice',
    10_000,
  );
  assert.match(log, /Gap: messages after \d+-\d+ are lost \(the group restarted since\)/);
  // The TCP client joined again by itself, and messages flow.
  await until(
    () => cells(page, '#members tbody tr'),
    (rows) => rows.filter((r) => r[0] === 'TCP').length === 1,
    'the TCP client rejoined',
    10_000,
  );
  tcp.send('after the restart');
  await until(
    () => tailText(page),
    (t) => t.includes('after the restart'),
    'message after',
  );
  const notice = page.locator('#tail li.notice', { hasText: 'Gap:' });
  assert.ok(await notice.isVisible());
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-gap.png'), fullPage: true });
});

test('with auth on: says it is not authorized, then works with a token kept for the tab', async () => {
  const env = {
    GROUPCAST_HOST: '127.0.0.1',
    GROUPCAST_TCP_PORT: '0',
    GROUPCAST_UDP_PORT: 'off',
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
    GROUPCAST_API_KEYS: 'dash-key',
  };
  const secured = await startProcess(NODE, [BIN, 'serve'], env, ['tcp', 'http']);
  cleanup.push(() => secured.stop());
  const peer = await TcpPeer.open(secured.addresses.tcp, 'lobby');
  cleanup.push(() => peer.close());
  const home = `http://${secured.addresses.http}/`;
  const { page } = await openPage();
  const seen: { url: string; auth?: string }[] = [];
  page.on('request', (r) => {
    // The page may be gone before the headers are read: such a request does not count.
    r.allHeaders().then(
      (h) => seen.push({ url: r.url(), auth: h.authorization }),
      () => {},
    );
  });
  await page.goto(`${home}#/group/lobby`);
  const refused = await until(
    () => state(page),
    (s) => s[0] === 'lost',
    'not authorized',
  );
  assert.match(refused[1] ?? '', /Not authorized \(UNAUTHORIZED\)/);
  assert.ok(
    await page.locator('#auth').evaluate((d) => (d as HTMLDetailsElement).open),
    'token form shown',
  );

  await page.getByLabel('Token', { exact: true }).fill('dash-key');
  await page.keyboard.press('Enter');
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live with the token',
  );
  assert.is(await page.evaluate(() => sessionStorage.getItem('groupcast.token')), 'dash-key');
  assert.ok(
    seen.some((s) => s.url.endsWith('/groups') && s.auth === 'Bearer dash-key'),
    'header',
  );
  assert.ok(
    seen.some((s) => /\/groups\/lobby\/events\?.*access_token=dash-key/.test(s.url)),
    'access_token on the stream',
  );
  peer.write('seen with a token\n');
  await until(
    () => tailText(page),
    (t) => t.includes('seen with a token'),
    'message',
  );

  await page.reload();
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'still live after a reload',
  );
  await page.getByText('Access token').click();
  await page.getByRole('button', { name: 'Forget' }).click();
  assert.is(await page.evaluate(() => sessionStorage.getItem('groupcast.token')), null);
  await until(
    () => state(page),
    (s) => s[0] === 'lost',
    'refused again without it',
  );
});

test('usable on a phone: no sideways scrolling, labelled controls, big enough targets', async () => {
  const { page, errors } = await openPage({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  await page.goto(`${url}#/group/lobby`);
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live',
  );
  tcp.send('seen on a phone');
  await until(
    () => tailText(page),
    (t) => t.includes('seen on a phone'),
    'message',
  );
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.is(overflow, 0, 'no horizontal scrolling of the page');
  const unlabelled = await page.evaluate(() =>
    Array.from(document.querySelectorAll('input'))
      .filter((i) => i.labels?.length === 0)
      .map((i) => i.id),
  );
  assert.equal(unlabelled, []);
  for (const name of ['Send', 'Pause', 'Clear']) {
    const box = await page.getByRole('button', { name }).boundingBox();
    assert.ok(box && box.height >= 44, `${name} is ${box?.height}px tall`);
  }
  assert.is(await page.getByRole('status').first().getAttribute('aria-live'), 'polite');
  await page.getByRole('button', { name: 'Pause' }).tap();
  tcp.send('while paused');
  await until(
    () =>
      page
        .getByRole('button', { name: /Resume/ })
        .textContent()
        .then((t) => (t ?? '').trim()),
    (t) => t === 'Resume (1 new)',
    'held',
  );
  assert.not.ok((await tailText(page)).includes('while paused'));
  await page.getByRole('button', { name: /Resume/ }).tap();
  await until(
    () => tailText(page),
    (t) => t.includes('while paused'),
    'released',
  );
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
  assert.equal(errors, []);
});

test('markup in messages and group names is shown as text and never becomes part of the page', async () => {
  // Group ids forbid whitespace and control characters but not `<`, `>`, `"`, `=` or `/`; HTML
  // takes `/` between attributes, so this name is live markup if it is ever parsed as HTML.
  const group = '<b/id="xss-group">g</b><img/src="x"/onerror="window.__xss=2">';
  const messages = ['<b id="xss">bold</b>', '<img src=x onerror="window.__xss=1">'];
  const peer = await TcpPeer.open(sidecar.addresses.tcp, group);
  cleanup.push(() => peer.close());
  const { page, errors, requests } = await openPage();
  await page.goto(url);
  await until(
    () => cells(page, '#groups tbody tr'),
    (rows) => rows.some((r) => r[0] === group && r[1] === '1'),
    'the group, named literally, in the list',
  );
  await page.getByRole('link', { name: group, exact: true }).click();
  await until(
    () =>
      page
        .locator('#group-title')
        .textContent()
        .then((t) => (t ?? '').trim()),
    (t) => t === `Group ${group}`,
    'the group view titled with the literal name',
  );
  assert.is(await page.title(), `${group} · groupcast`);
  await until(
    () => state(page),
    (s) => s[0] === 'live',
    'live',
  );
  for (const m of messages) peer.write(`${m}\n`);
  const entries = () =>
    page.locator('#tail li .data').evaluateAll((els) => els.map((e) => e.textContent));
  await until(entries, (e) => e.length === messages.length, 'both messages in the tail');
  // Time for an <img src=x>, had one been made, to ask for ./x and run its onerror.
  await sleep(500);
  const injected = await page.evaluate(() => ({
    xss: document.getElementById('xss') !== null,
    xssGroup: document.getElementById('xss-group') !== null,
    imgs: document.querySelectorAll('img[src="x"]').length,
    ran: (window as unknown as { __xss?: number }).__xss ?? null,
  }));
  assert.equal(injected, { xss: false, xssGroup: false, imgs: 0, ran: null }, 'nothing injected');
  assert.equal(await entries(), messages, 'shown as literal text');
  assert.equal(
    requests.filter((r) => r === `${url}x`),
    [],
    'no image was requested',
  );
  assert.equal(errors, []);
});

test.run();
