import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freshBundle } from '../../sidecar/bundle-fresh.js';

/** A root with one source file and a dist built from it, stamped at `builtAt` (seconds). */
function layout(builtAt: number, sourceAt: number): { root: string; dist: string } {
  const root = mkdtempSync(join(tmpdir(), 'groupcast-bundle-'));
  const dist = join(root, 'dist');
  mkdirSync(join(root, 'src'));
  mkdirSync(dist);
  writeFileSync(join(root, 'src', 'a.ts'), 'export {};');
  writeFileSync(join(dist, 'cli.js'), 'export {};');
  writeFileSync(join(dist, 'inputs.json'), JSON.stringify(['src/a.ts', 'src/gone.ts']));
  utimesSync(join(root, 'src', 'a.ts'), sourceAt, sourceAt);
  utimesSync(join(dist, 'inputs.json'), builtAt, builtAt);
  return { root, dist };
}

test('the bundle runs when it is newer than every source it was built from', () => {
  const { root, dist } = layout(2_000_000, 1_000_000);
  try {
    assert.is(freshBundle(dist, root), join(dist, 'cli.js'));
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('a source edited after the bundle was built sends bin.js back to the sources', () => {
  const { root, dist } = layout(1_000_000, 2_000_000);
  try {
    assert.is(freshBundle(dist, root), null);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('a bundle missing its entry or its input list is not run', () => {
  const { root, dist } = layout(2_000_000, 1_000_000);
  try {
    rmSync(join(dist, 'cli.js'));
    assert.is(freshBundle(dist, root), null, 'no entry');
    writeFileSync(join(dist, 'cli.js'), 'export {};');
    rmSync(join(dist, 'inputs.json'));
    assert.is(freshBundle(dist, root), null, 'no inputs.json');
    assert.is(freshBundle(join(root, 'nowhere'), root), null, 'no dist at all');
  } finally {
    rmSync(root, { recursive: true });
  }
});

test.run();
