// `npm run build` (and `prepare`, so `npm install` / `npm ci` run it): bundles the sidecar into
// sidecar/dist/ with esbuild (installed with tsx). Loading tsx at run time costs ~30 MB of RSS and
// ~0.5 s before the first listener; hono's many small modules cost a few MB more. sidecar/bin.js
// runs the bundle when it is newer than every source it was built from, the sources otherwise.
//
// Plain JavaScript on purpose: it must run before anything can load TypeScript.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
export const DIST = join(HERE, 'dist');

/**
 * Left out of the bundle and loaded from node_modules: only loaded when a feature is on (Redis,
 * auth, the first /metrics scrape, the pretty log format), or CommonJS that resolves its own files.
 */
const EXTERNAL = ['ioredis', 'prom-client', 'jose', 'pino-pretty'];

/** Builds into a fresh directory, then swaps it in, so a sidecar starting meanwhile sees one whole bundle. */
export async function bundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    process.stderr.write('groupcast: esbuild not found; the sidecar will run from source\n');
    return false;
  }
  const tmp = `${DIST}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { cli: 'sidecar/cli.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: tmp,
    external: EXTERNAL,
    metafile: true,
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    // Bundled CommonJS (pino) calls require(): give it Node's.
    banner: {
      js: 'import { createRequire as __groupcastRequire } from "node:module"; const require = __groupcastRequire(import.meta.url);',
    },
  });
  // What bin.js compares the bundle's age with: our own sources, and the install itself.
  // Packages are covered by the install's own stamp (npm gives their files old mtimes).
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules/'));
  inputs.push('package.json', 'node_modules/.package-lock.json');
  writeFileSync(join(tmp, 'inputs.json'), JSON.stringify(inputs));
  const outputs = Object.keys(result.metafile.outputs).map((p) => relative(tmp, join(ROOT, p)));
  writeFileSync(join(tmp, 'outputs.json'), JSON.stringify(outputs));
  keepPrevious(tmp);
  mkdirSync(DIST, { recursive: true });
  const old = `${DIST}.old.${process.pid}`;
  renameSync(DIST, old);
  renameSync(tmp, DIST);
  rmSync(old, { recursive: true, force: true });
  return true;
}

/**
 * Copies the previous build's own files that the new one lacks into `tmp`: a sidecar still
 * running from that build imports some chunks only on first use (the HTTP adapter on the first
 * request the Hono app answers), by content-hashed names a rebuild from changed sources would
 * otherwise remove. One build back; older ones are dropped.
 * @param {string} tmp
 */
function keepPrevious(tmp) {
  let previous;
  try {
    previous = JSON.parse(readFileSync(join(DIST, 'outputs.json'), 'utf8'));
  } catch {
    return;
  }
  for (const name of previous) {
    if (typeof name !== 'string' || name.includes('/') || name.includes('..')) continue;
    if (!existsSync(join(tmp, name)) && existsSync(join(DIST, name))) {
      copyFileSync(join(DIST, name), join(tmp, name));
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  bundle().then(
    (built) => {
      if (built) process.stdout.write(`groupcast: bundled into ${relative(ROOT, DIST)}/\n`);
    },
    (err) => {
      // Never fail an install over it: bin.js falls back to the sources.
      process.stderr.write(`groupcast: bundle failed (${err.message}); running from source\n`);
    },
  );
}
