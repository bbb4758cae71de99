import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ROOT } from './process.ts';

/** Where browser tests leave their screenshots and measurements. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/** Debian's chromium, headless, with nothing that reaches out to the network on its own. */
export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.GROUPCAST_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Polls a value from the page until `ok` accepts it; bounded in time. */
export async function until<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 8000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text of every cell of the table rows `selector` finds, row by row. */
export const tableCells = (page: Page, selector: string) =>
  page
    .locator(selector)
    .evaluateAll((trs) =>
      trs.map((r) => Array.from((r as HTMLTableRowElement).cells, (c) => c.textContent?.trim())),
    );
