import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI_OPTIONS } from '../shared/options/cli.ts';
import { configurationDoc } from '../shared/options/docs.ts';
import { EDGE_OPTIONS } from '../shared/options/edge.ts';
import { SIDECAR_OPTIONS } from '../shared/options/sidecar.ts';
import { ROOT } from './helpers/process.ts';

const committed = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');

test('docs/configuration.md is what `npm run docs:config` writes from the option specs today', () => {
  // On failure: run `npm run docs:config` and commit docs/configuration.md.
  assert.fixture(committed, configurationDoc());
});

test('docs/configuration.md has one row per option: key, environment name, flag, default, meaning', () => {
  const sections = committed.split(/^## /m);
  for (const [title, specs] of [
    ['Sidecar', SIDECAR_OPTIONS],
    ['Edge worker', EDGE_OPTIONS],
    ['Command line', CLI_OPTIONS],
  ] as const) {
    const section = sections.find((s) => s.startsWith(title)) ?? '';
    assert.ok(section, title);
    for (const s of specs) {
      const rows = section
        .split('\n')
        .map((l) => l.split(/ +\| +/).map((c) => c.replace(/^\| |\|$/g, '').trim()))
        .filter((cells) => cells[0] === `\`${s.key}\``);
      assert.is(rows.length, 1, `${title}: one row for ${s.key}`);
      const cells = rows[0];
      assert.is(cells[1], `\`${s.env}\``, `${s.key}: environment name`);
      assert.is(cells[2], `\`--${s.flag}\``, `${s.key}: flag`);
      assert.ok(cells[4].startsWith(s.doc), `${s.key}: meaning`);
    }
  }
});

test.run();
