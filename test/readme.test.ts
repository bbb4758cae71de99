import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES } from '../shared/errors.ts';
import { CLI_OPTIONS } from '../shared/options/cli.ts';
import { EDGE_OPTIONS } from '../shared/options/edge.ts';
import { SIDECAR_OPTIONS } from '../shared/options/sidecar.ts';
import { ROOT } from './helpers/process.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

test('README documents every sidecar option: key, environment name, flag', () => {
  for (const s of SIDECAR_OPTIONS) {
    assert.ok(readme.includes(`\`${s.key}\``), `key ${s.key}`);
    assert.ok(readme.includes(`\`${s.env}\``), `env ${s.env}`);
    assert.ok(readme.includes(`\`--${s.flag}\``), `flag --${s.flag}`);
  }
});

test('README documents every edge worker option in its table: key, environment name, flag', () => {
  const section = readme.slice(readme.indexOf('## Edge worker'));
  for (const s of EDGE_OPTIONS) {
    const row = new RegExp(`^\\| \`${s.key}\` +\\| \`${s.env}\` +\\| \`--${s.flag}\` +\\|`, 'm');
    assert.match(section, row, s.key);
  }
});

test('README shows how to run the edge worker, and the one-line entry for other fetch runtimes', () => {
  assert.ok(readme.includes('deno task edge'));
  assert.ok(readme.includes('fetch: createApi('));
  assert.ok(readme.includes("new RemoteHub({ url: 'http://"));
  assert.ok(readme.includes('createEdge({ GROUPCAST_SIDECAR_URL'));
});

test('README documents every CLI option: key, environment name, flag', () => {
  for (const s of CLI_OPTIONS) {
    assert.ok(readme.includes(`\`${s.key}\``), `key ${s.key}`);
    assert.ok(readme.includes(`\`${s.env}\``), `env ${s.env}`);
    assert.ok(readme.includes(`\`--${s.flag}\``), `flag --${s.flag}`);
  }
});

test('README shows the dashboard screenshot, and the file is there', () => {
  const m = /!\[[^\]]+\]\((api\/dashboard\/screenshot\.png)\)/.exec(readme);
  assert.ok(m, 'an image link');
  const png = readFileSync(join(ROOT, m[1]));
  assert.equal([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
});

test('README lists every error code', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), code);
});

test('README shows the two quick-start commands', () => {
  assert.ok(readme.includes('npm install && npm start'));
  assert.ok(readme.includes('npm test'));
});

test.run();
