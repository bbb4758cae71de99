/**
 * The dashboard's live views end to end: two real sidecar processes sharing groups over a real
 * redis-server, raw TCP peers, Debian's chromium driven by playwright-core. Rates and charts,
 * publish times (replayed ones too), health, the cluster view, phone width and dark mode.
 * Screenshots at 1280 and 390 px go to test-artifacts/; with GROUPCAST_UPDATE_SCREENSHOT=1 the
 * wide overview also becomes api/dashboard/screenshot.png, the README's picture.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARTIFACTS, launchChromium, tableCells, until as untilFor } from '../helpers/browser.ts';
import { ROOT, type Started, startProcess } from '../helpers/process.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { hostPort, sleep } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const NODE = process.execPath;
const BIN = join(ROOT, 'sidecar', 'bin.js');

/** The page's waits in this file, 10000 ms unless a test says otherwise. */
const until = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 10000) =>
  untilFor(read, ok, what, ms);

let browser: Browser;
let redis: RedisServer;
let A: Started;
let B: Started;
const cleanup: (() => unknown)[] = [];

function startNode(id: string): Promise<Started> {
  const env = {
    GROUPCAST_HOST: '127.0.0.1',
    GROUPCAST_TCP_PORT: '0',
    GROUPCAST_UDP_PORT: 'off',
    GROUPCAST_HTTP_PORT: '0',
    GROUPCAST_RESP_PORT: 'off',
    GROUPCAST_REDIS_URL: redis.url,
    GROUPCAST_NODE_ID: id,
    GROUPCAST_NODE_HEARTBEAT: '200ms',
    GROUPCAST_NODE_EXPIRY: '2s',
    // The health test shows a member that stopped reading: it must stay until the page saw it.
    GROUPCAST_STALL_TIMEOUT: '60s',
  };
  return startProcess(NODE, [BIN, 'serve'], env, ['tcp', 'http']);
}

const home = (sc: Started) => `http://${sc.addresses.http}/`;

async function openPage(options: Parameters<Browser['newPage']>[0] = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ...options });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  cleanup.push(() => page.close());
  return { page, errors };
}

async function post(sc: Started, group: string, body: string): Promise<string[]> {
  const res = await fetch(`${home(sc)}groups/${group}/messages`, { method: 'POST', body });
  assert.ok(res.ok, `POST ${res.status}`);
  return (await res.json()).ids;
}

async function peer(sc: Started, group: string): Promise<TcpPeer> {
  const p = await TcpPeer.open(sc.addresses.tcp, group);
  cleanup.push(() => p.close());
  return p;
}

/** Sends one line every `everyMs` until stopped, at most `max` lines: bounded load. */
function trickle(p: TcpPeer, everyMs: number, max: number): () => void {
  let n = 0;
  const timer = setInterval(() => {
    p.write(`tick ${++n} ${'x'.repeat(200)}\n`);
    if (n >= max) clearInterval(timer);
  }, everyMs);
  return () => clearInterval(timer);
}

const chart = (page: Page, id: string) =>
  page.locator(`#${id}`).evaluate((el) => ({
    points: Number((el as HTMLElement).dataset.points),
    lastIn: Number((el as HTMLElement).dataset.lastIn),
    lastOut: Number((el as HTMLElement).dataset.lastOut),
    drawn: el.querySelector('canvas') !== null,
  }));

const rows = tableCells;

test.before(async () => {
  browser = await launchChromium();
  redis = await startRedis();
  A = await startNode('dash-a');
  B = await startNode('dash-b');
});

test.after.each(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

test.after(async () => {
  await browser?.close();
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.stop();
});

test('replayed messages show when the sidecar received them, not when the page loaded', async () => {
  const ids = [await post(A, 'replayed', 'first one'), await post(A, 'replayed', 'second one')];
  const held = await (await fetch(`${home(A)}groups/replayed/messages`)).json();
  const times: number[] = held.messages.map((m: { time: number }) => m.time);
  assert.is(times.length, 2);
  await sleep(1200);
  const { page, errors } = await openPage();
  const loaded = Date.now();
  await page.goto(`${home(A)}#/group/replayed`);
  const shown = await until(
    () =>
      page
        .locator('#tail li:not(.notice)')
        .evaluateAll((lis) =>
          lis.map((li) => [
            li.querySelector('.meta')?.textContent?.split(' · ')[0],
            li.querySelector('time')?.getAttribute('datetime'),
          ]),
        ),
    (l) => l.length === 2,
    'two replayed messages',
  );
  assert.equal(shown, [
    [ids[0][0], new Date(times[0]).toISOString()],
    [ids[1][0], new Date(times[1]).toISOString()],
  ]);
  assert.ok(loaded - times[1] >= 1000, 'the page loaded well after they were sent');
  assert.equal(errors, []);
});

test('rates and charts move while messages flow, and fall back when they stop', async () => {
  const sender = await peer(A, 'flow');
  await peer(A, 'flow');
  const { page, errors } = await openPage();
  await page.goto(home(A));
  const stop = trickle(sender, 40, 500);
  cleanup.push(stop);
  const flowing = await until(
    () => chart(page, 'node-chart'),
    (c) => c.points >= 2 && c.lastIn > 5 && c.lastOut > 5 && c.drawn,
    'the node chart to show messages in and out',
  );
  const spark = await until(
    () =>
      page
        .locator('#groups tr[data-key="flow"] canvas.spark')
        .evaluate((c) => Number((c as HTMLElement).dataset.last)),
    (v) => v > 5,
    'the group sparkline to rise',
  );
  const tile = await page.locator('#node-rates [data-key="in"] dd').textContent();
  assert.ok(Number(tile) > 5, `messages/s in tile reads ${tile}`);
  const picture = process.env.GROUPCAST_UPDATE_SCREENSHOT === '1';
  if (picture) {
    // The README's picture: a chart with some history to it.
    await until(
      () => chart(page, 'node-chart'),
      (c) => c.points >= 6,
      'a few samples',
      20_000,
    );
  }
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1280.png'), fullPage: true });
  if (picture) {
    copyFileSync(
      join(ARTIFACTS, 'dashboard-1280.png'),
      join(ROOT, 'api', 'dashboard', 'screenshot.png'),
    );
  }

  await page.goto(`${home(A)}#/group/flow`);
  const inGroup = await until(
    () => chart(page, 'group-chart'),
    (c) => c.points >= 2 && c.lastIn > 5 && c.lastOut > 5 && c.drawn,
    'the group chart to show messages in and delivered',
  );
  const lastCell = await page.locator('#group-rates [data-key="in"] dd').textContent();
  assert.ok(Number(lastCell) > 5, `group messages/s in reads ${lastCell}`);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-group-1280.png'), fullPage: true });
  stop();
  await until(
    () => chart(page, 'group-chart'),
    (c) => c.lastIn === 0 && c.points > inGroup.points,
    'the group chart to fall to 0 once the messages stop',
  );
  assert.ok(flowing.lastIn > 0 && spark > 0);
  assert.equal(errors, []);
});

test('the group list shows the last message as relative time and a preview', async () => {
  await peer(A, 'lobby');
  // With Redis, a node keeps a group's newest message once it listens to the group's channel.
  await sleep(500);
  await post(A, 'lobby', 'proxy-1: Steve joined the lobby');
  const { page } = await openPage();
  await page.goto(home(A));
  const cell = await until(
    () => page.locator('#groups tr[data-key="lobby"] td:last-child').textContent(),
    (t) => /^(just now|\d+ s ago)proxy-1: Steve joined the lobby$/.test(t ?? ''),
    'relative time and preview',
  );
  assert.ok(cell);
  await until(
    () => page.locator('#groups tr[data-key="lobby"] td:last-child time').textContent(),
    (t) => /^\d+ s ago$/.test(t ?? ''),
    'the relative time to move on',
    6000,
  );
});

test('the cluster view lists both sidecars with their members, and each member its node', async () => {
  await peer(B, 'shared');
  await peer(B, 'shared');
  await peer(A, 'shared');
  const { page, errors } = await openPage();
  await page.goto(home(A));
  // The cluster view appears with the page's first health poll.
  assert.ok(
    await until(
      () => page.locator('#cluster').isVisible(),
      (v) => v,
      'cluster view shown with Redis',
    ),
  );
  const nodes = await until(
    () => rows(page, '#nodes tbody tr'),
    (r) =>
      r.length === 2 &&
      r.some((n) => n[0] === 'dash-b' && Number(n[1]) >= 2) &&
      r.some((n) => n[0] === 'dash-a' && Number(n[1]) >= 1) &&
      r.every((n) => /^(just now|\d+ s ago)$/.test(n[5] ?? '')),
    'two nodes with their TCP members, seen just now',
  );
  assert.ok(nodes);
  assert.match(
    (await page.locator('#nodes th.this-node').textContent()) ?? '',
    'dash-a',
    'this node is marked',
  );
  await page.goto(`${home(A)}#/group/shared`);
  const members = await until(
    () => rows(page, '#members tbody tr'),
    (r) =>
      r.filter((m) => m[0] === 'TCP' && m[4] === 'dash-b').length === 2 &&
      r.filter((m) => m[0] === 'TCP' && m[4] === 'dash-a').length === 1,
    "each member's node",
  );
  assert.ok(members);
  assert.equal(errors, []);
});

test('a member that joins or leaves shows in the group view at once, from presence events', async () => {
  const group = 'presence-live';
  const { page, errors } = await openPage();
  // The poll's answers for this group arrive 3 s late (each taken when asked, so they are
  // stale by then): within 1 s, only the stream's join and leave events can move the table.
  let held = 0;
  await page.route(
    (u) => u.pathname === `/groups/${group}`,
    async (route) => {
      held++;
      try {
        const res = await route.fetch();
        await sleep(3000);
        await route.fulfill({ response: res });
      } catch {
        // the page closed meanwhile
      } finally {
        held--;
      }
    },
  );
  await page.goto(`${home(A)}#/group/${group}`);
  const tcpRows = () =>
    rows(page, '#members tbody tr').then((r) => r.filter((m) => m[0] === 'TCP'));
  // The page's own stream is a member: once the poll listed it, the page is up.
  await until(
    () => rows(page, '#members tbody tr'),
    (r) => r.length === 1 && r[0][0] === 'SSE',
    "the page's own SSE member listed",
  );
  /** Until `ok` held `ms` long without a break (the late poll answers must not undo the event). */
  const steady = async (ok: (r: string[][]) => boolean, what: string, ms = 3500) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const r = await tcpRows();
      assert.ok(ok(r as string[][]), `${what}: ${JSON.stringify(r)}`);
      await sleep(50);
    }
  };

  // Join while a poll answer taken before the join is on its way.
  await until(
    async () => held,
    (n) => n > 0,
    'a poll request held',
  );
  const joined = Date.now();
  const member = await peer(A, group);
  const port = String(member.socket.localPort);
  const row = await until(tcpRows, (r) => r.length === 1, 'the TCP member listed', 1000);
  const joinMs = Date.now() - joined;
  assert.ok(row[0][1]?.endsWith(`:${port}`), `address ${row[0][1]} is the peer's`);
  assert.is(row[0][4], 'dash-a');
  await steady((r) => r.length === 1, 'the member stays listed');

  await until(
    async () => held,
    (n) => n > 0,
    'a poll request held',
  );
  const left = Date.now();
  member.close();
  await until(tcpRows, (r) => r.length === 0, 'the TCP member gone', 1000);
  const leaveMs = Date.now() - left;
  await steady((r) => r.length === 0, 'the member stays gone');
  console.log(
    `presence in the group view: join shown after ${joinMs} ms, leave after ${leaveMs} ms`,
  );

  // Join and leave are not messages: the live list has only what was published.
  await post(A, group, 'after the presence events');
  await until(
    () => page.locator('#tail li').allTextContents(),
    (l) => l.length === 1 && l[0].includes('after the presence events'),
    'only the published message in the live list',
  );
  assert.equal(errors, []);
});

test('health shows rejections by reason, connections against the limit, and members behind', async () => {
  // A bad join line is refused and counted under its reason.
  await new Promise<void>((resolve) => {
    const s = connect(hostPort(A.addresses.tcp), () => s.write('HELLO:lobby\n'));
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  // A member that stops reading: what it has not taken waits in its queue.
  const stuck: Socket = await new Promise((resolve) => {
    const s = connect(hostPort(A.addresses.tcp), () => {
      s.write('SOCKETFORWARDER-NEW:backlog\n');
      resolve(s);
    });
  });
  cleanup.push(() => stuck.destroy());
  stuck.pause();
  await sleep(200);
  const chunk = `${'y'.repeat(512 * 1024 - 1)}\n`;
  for (let i = 0; i < 12; i++) await post(A, 'backlog', chunk);
  const { page, errors } = await openPage();
  await page.goto(home(A));
  const lists = await until(
    () => page.locator('#health-lists').textContent(),
    (t) => /Rejected, by reason[A-Z_]+: \d+/.test(t ?? ''),
    'rejections by reason',
  );
  assert.ok(lists);
  const conns = await page.locator('#health-tiles [data-key="conns"]').textContent();
  assert.match(conns ?? '', /Connections \/ limit\d+ \/ \d+/);
  assert.ok(await page.locator('#health-tiles [data-key="conns"] meter').count());
  await until(
    () => page.locator('#health-tiles [data-key="behind"]').textContent(),
    (t) => /^Members behind1 in 1 group, [\d.]+ (KiB|MiB) unsent$/.test(t ?? ''),
    'members behind at a glance',
  );
  assert.is(await page.locator('#groups tr.pending').getAttribute('data-key'), 'backlog');
  await page.goto(`${home(A)}#/group/backlog`);
  await until(
    () => page.locator('#members tr.pending').count(),
    (n) => n === 1,
    'the member with unsent bytes highlighted',
  );
  assert.match((await page.locator('#members-note').textContent()) ?? '', /1 member has unsent/);
  assert.equal(errors, []);
});

/**
 * Every visible element inside the viewport's width, no text cut off in its box, and every
 * control a 44 px target. Plain JavaScript text: it runs in the page as it is.
 */
const PHONE_CHECK = `(() => {
  const width = document.documentElement.clientWidth;
  const clipped = [];
  const small = [];
  const label = (el) =>
    el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '') +
    ' "' + (el.textContent || '').trim().slice(0, 20) + '"';
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('thead, .skip:not(:focus), [hidden], noscript')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.right > width + 0.5) clipped.push(label(el) + ' ' + r.left + '..' + r.right);
    const style = getComputedStyle(el);
    if (style.overflowX === 'hidden' && el.scrollWidth > el.clientWidth + 1 && !el.closest('.chart'))
      clipped.push(label(el) + ' cut: ' + el.scrollWidth + ' > ' + el.clientWidth);
  }
  for (const el of document.querySelectorAll('a, button, summary, input')) {
    if (el.closest('[hidden], .skip:not(:focus)')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.height < 44 || r.width < 44) small.push(label(el) + ' ' + r.width + 'x' + r.height);
  }
  return { clipped, small };
})()`;

async function phoneCheck(page: Page): Promise<{ clipped: string[]; small: string[] }> {
  return page.evaluate(PHONE_CHECK);
}

test('at 390 px: nothing clipped or scrolling sideways, every control a 44 px target', async () => {
  await peer(A, 'a-group-with-a-rather-long-name-for-a-phone');
  await post(A, 'a-group-with-a-rather-long-name-for-a-phone', 'x'.repeat(120));
  const { page, errors } = await openPage({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  await page.goto(home(A));
  await until(
    () => page.locator('#groups tbody tr').count(),
    (n) => n >= 3,
    'groups listed',
  );
  await until(
    () => chart(page, 'node-chart'),
    (c) => c.drawn,
    'the chart drawn',
  );
  await page.keyboard.press('Tab');
  assert.is(await page.evaluate(() => document.activeElement?.className), 'skip');
  const skip = await page.locator('.skip').boundingBox();
  assert.ok(skip && skip.height >= 44, `skip link is ${skip?.height}px tall`);
  let check = await phoneCheck(page);
  assert.equal(check, { clipped: [], small: [] }, 'group list');
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.is(overflow, 0, 'no sideways scrolling');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390.png'), fullPage: true });

  await page.goto(`${home(A)}#/group/a-group-with-a-rather-long-name-for-a-phone`);
  await until(
    () => page.locator('#members tbody tr').count(),
    (n) => n >= 2,
    'members listed',
  );
  await post(A, 'a-group-with-a-rather-long-name-for-a-phone', 'seen on a phone');
  await until(
    () => page.locator('#tail').textContent(),
    (t) => (t ?? '').includes('seen on a phone'),
    'message',
  );
  check = await phoneCheck(page);
  assert.equal(check, { clipped: [], small: [] }, 'group view');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-group-390.png'), fullPage: true });
  assert.equal(errors, []);
});

test('dark mode follows the system setting, charts included', async () => {
  const { page } = await openPage({ colorScheme: 'dark' });
  await page.goto(home(A));
  await until(
    () => chart(page, 'node-chart'),
    (c) => c.drawn,
    'the chart drawn',
  );
  const dark = await page.evaluate(
    () => getComputedStyle(document.documentElement).backgroundColor,
  );
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await page.evaluate(
    () => getComputedStyle(document.documentElement).backgroundColor,
  );
  assert.is(dark, 'rgb(13, 17, 23)');
  assert.is(light, 'rgb(255, 255, 255)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-dark-1280.png'), fullPage: true });
});

test('page weight and time to first render, measured on this machine', async () => {
  const { page } = await openPage();
  await page.goto(home(A), { waitUntil: 'load' });
  await until(
    () => page.evaluate(() => performance.getEntriesByName('first-contentful-paint').length),
    (n) => n > 0,
    'the first contentful paint entry',
  );
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const assets = [nav, ...res.filter((r) => r.name.includes('/_dashboard/'))];
    return {
      transferBytes: assets.reduce((n, r) => n + r.transferSize, 0),
      bodyBytes: assets.reduce((n, r) => n + r.decodedBodySize, 0),
      files: assets.map((r) => [r.name.replace(/^.*\//, '/'), r.transferSize]),
      firstContentfulPaintMs: Math.round(paint?.startTime ?? -1),
      domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd),
    };
  });
  writeFileSync(join(ARTIFACTS, 'dashboard-perf.json'), `${JSON.stringify(perf, null, 2)}\n`);
  console.log('dashboard page weight and first render:', JSON.stringify(perf));
  assert.ok(perf.firstContentfulPaintMs > 0);
  assert.ok(perf.transferBytes > 0);
});

test.run();
