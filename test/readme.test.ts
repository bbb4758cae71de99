import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES } from '../shared/errors.ts';
import { CLI_OPTIONS } from '../shared/options/cli.ts';
import { EDGE_OPTIONS } from '../shared/options/edge.ts';
import { SIDECAR_OPTIONS } from '../shared/options/sidecar.ts';
import { cannotListen } from '../sidecar/listen-error.ts';
import { ROOT } from './helpers/process.ts';

// The README is the short tour; the reference lives in docs/. These checks hold both to the code.
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const readme = read('README.md');
const DOCS = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));

test('README stays short: at most 300 lines', () => {
  const lines = readme.split('\n').length;
  assert.ok(lines <= 300, `${lines} lines`);
});

test('README shows the two quick-start commands and how to skip the Redis and browser suites', () => {
  assert.ok(readme.includes('npm install && npm start'));
  assert.ok(readme.includes('npm test'));
  assert.match(readme, /GROUPCAST_TEST_SKIP=redis,browser npm test/);
});

test("README's documentation table lists every file in docs/ and CONTRIBUTING.md", () => {
  const table = readme.slice(readme.indexOf('## Documentation'));
  for (const file of [...DOCS.map((f) => `docs/${f}`), 'CONTRIBUTING.md']) {
    assert.ok(table.includes(`](${file})`), file);
  }
});

test('every relative link in README, CONTRIBUTING and docs/ points at a file that is there', () => {
  for (const page of ['README.md', 'CONTRIBUTING.md', ...DOCS.map((f) => `docs/${f}`)]) {
    for (const [, target] of read(page).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
      assert.ok(existsSync(join(ROOT, dirname(page), target)), `${page} -> ${target}`);
    }
  }
});

test('docs/configuration.md documents every sidecar, edge worker and CLI option', () => {
  const doc = read('docs/configuration.md');
  for (const s of [...SIDECAR_OPTIONS, ...EDGE_OPTIONS, ...CLI_OPTIONS]) {
    assert.ok(doc.includes(`\`${s.key}\``), `key ${s.key}`);
    assert.ok(doc.includes(`\`${s.env}\``), `env ${s.env}`);
    assert.ok(doc.includes(`\`--${s.flag}\``), `flag --${s.flag}`);
  }
});

test('docs/edge.md shows how to run the edge worker, and the one-line entry for other fetch runtimes', () => {
  const doc = read('docs/edge.md');
  assert.ok(doc.includes('deno task edge'));
  assert.ok(doc.includes('fetch: createApi('));
  assert.ok(doc.includes("new RemoteHub({ url: 'http://"));
  assert.ok(doc.includes('createEdge({ GROUPCAST_SIDECAR_URL'));
});

test('README shows the dashboard screenshot, and the file is there', () => {
  const m = /!\[[^\]]+\]\((api\/dashboard\/screenshot\.png)\)/.exec(readme);
  assert.ok(m, 'an image link');
  const png = readFileSync(join(ROOT, m[1]));
  assert.equal([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
});

test('docs/errors.md lists every error code in its table', () => {
  const doc = read('docs/errors.md');
  for (const code of Object.keys(ERROR_CODES)) {
    assert.match(doc, new RegExp(`^\\| \`${code}\` +\\| \\d{3} +\\|`, 'm'), code);
  }
});

test("README's start-up failure line is the one the sidecar prints", () => {
  const err = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
  const line = `groupcast: cannot start: ${cannotListen('httpPort', '127.0.0.1', 7480, err).message}`;
  assert.ok(readme.includes(`\n${line}\n`), line);
});

test("CONTRIBUTING.md's folder map names every folder in the repository, and no other", () => {
  const doc = read('CONTRIBUTING.md');
  const block = doc.slice(doc.indexOf('## Folder map'));
  const mapped = new Set([...block.matchAll(/^([.\w-]+(?:\/[\w-]+)*)\/ /gm)].map((m) => m[1]));
  const tracked = new Set<string>();
  for (const file of execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split(
    '\n',
  )) {
    const parts = file.split('/').slice(0, -1);
    for (let i = 1; i <= Math.min(parts.length, 3); i++) tracked.add(parts.slice(0, i).join('/'));
  }
  assert.equal([...mapped].sort(), [...tracked].sort());
});

test.run();
