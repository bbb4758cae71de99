#!/usr/bin/env node
// The package's command (and `npm start`). It runs the bundle `npm install` builds
// (sidecar/bundle.js) when that is newer than every file it was built from; otherwise the
// TypeScript sources through tsx, as Node 20 cannot run TypeScript itself.
// GROUPCAST_FROM_SOURCE=1 forces the sources (readable stack traces).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBundle } from './bundle-fresh.js';

const here = dirname(fileURLToPath(import.meta.url));
const bundled = process.env.GROUPCAST_FROM_SOURCE
  ? null
  : freshBundle(join(here, 'dist'), dirname(here));
let main;
if (bundled) {
  ({ main } = await import(bundled));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./cli.ts'));
}
await main(process.argv.slice(2));
