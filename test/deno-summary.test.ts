// test/run.ts counts the Deno suite from deno's closing line: read real deno 2.9 output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDenoSummary } from './helpers/deno-summary.ts';
import { DENO } from './helpers/edge.ts';
import { runProcess } from './helpers/process.ts';

async function denoTest(...files: string[]) {
  const r = await runProcess(DENO, ['test', '--no-check', ...files], { NO_COLOR: '1' }, 60_000);
  return { code: r.code, summary: parseDenoSummary(r.stdout + r.stderr) };
}

test('a passing run: passed and failed counted', async () => {
  const r = await denoTest('test/fixtures/deno-summary/passing.ts');
  assert.is(r.code, 0);
  assert.equal(r.summary, { passed: 2, failed: 0, ignored: 0 });
});

test('a failing run with steps and an ignored test; a summary-like line printed by a test does not count', async () => {
  const r = await denoTest('test/fixtures/deno-summary/mixed.ts');
  assert.is.not(r.code, 0);
  assert.equal(r.summary, { passed: 2, failed: 1, ignored: 1 });
});

test('several files sum into one closing line', async () => {
  const r = await denoTest(
    'test/fixtures/deno-summary/passing.ts',
    'test/fixtures/deno-summary/mixed.ts',
  );
  assert.equal(r.summary, { passed: 4, failed: 1, ignored: 1 });
});

test('no closing line at all is no summary', () => {
  assert.is(parseDenoSummary('error: Module not found'), null);
});

test.run();
