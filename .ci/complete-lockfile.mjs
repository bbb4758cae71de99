#!/usr/bin/env node
// npm 11 drops optional platform packages it did not install (other OS, CPU or libc) from
// package-lock.json, and then `npm ci` refuses the lockfile as out of sync ("Missing: ... from
// lock file"). This puts every declared optional dependency back, with its registry metadata,
// or, where the registry does not carry it (a mirror with this platform's packages only), with
// the platform its name declares, which is all `npm ci` needs to skip it.
// Run after `npm install` changes the lockfile: node .ci/complete-lockfile.mjs
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);

function view(name, version) {
  try {
    const out = execFileSync(
      'npm',
      [
        'view',
        `${name}@${version}`,
        '--json',
        'version',
        'dist',
        'os',
        'cpu',
        'libc',
        'license',
        'engines',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return JSON.parse(out);
  } catch {
    return null;
  }
}

/** `@biomejs/cli-linux-x64-musl` -> os linux, cpu x64, libc musl. */
function fromName(name, version) {
  const parts = name.split('/').pop().split('-');
  const pick = (options) => parts.filter((p) => options.includes(p));
  const os = pick(['android', 'darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'sunos', 'aix']);
  const cpu = pick(['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64']);
  const libc = parts.includes('musl')
    ? ['musl']
    : parts.includes('glibc') || parts.includes('gnu')
      ? ['glibc']
      : [];
  if (os.length === 0 && cpu.length === 0)
    throw new Error(`${name}@${version}: not in the registry and no platform in its name`);
  return { version, os, cpu, libc: libc.length ? libc : undefined };
}
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `${key ? `${key}/` : ''}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[at] || packages[hoisted]) continue;
    const meta = view(name, version) ?? fromName(name, version);
    const record = { version: meta.version };
    // No `resolved`: the lockfile carries none (.npmrc: omit-lockfile-registry-resolved).
    if (meta.dist) record.integrity = meta.dist.integrity;
    for (const field of ['cpu', 'os', 'libc'])
      if (meta[field]?.length) record[field] = [].concat(meta[field]);
    if (entry.dev) record.dev = true;
    if (meta.license) record.license = meta.license;
    record.optional = true;
    if (meta.engines) record.engines = meta.engines;
    packages[hoisted] = record;
    added++;
  }
}
writeFileSync(path, npmStringify(lock));
console.log(`package-lock.json: ${added} optional platform package(s) restored`);

/**
 * The lockfile as npm itself writes it, so the next `npm install` finds nothing to reorder and
 * `git status` stays clean: in every object, plain values (arrays included) before objects;
 * among those, npm's preferred keys in its order, then the rest by English collation.
 */
function npmStringify(value) {
  const preferred = [
    'name',
    'version',
    'lockfileVersion',
    'resolved',
    'integrity',
    'requires',
    'packages',
    'dependencies',
  ];
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const rank = (k) => {
    const i = preferred.indexOf(k);
    return i < 0 ? preferred.length : i;
  };
  const order = ([a, av], [b, bv]) => {
    if (isObject(av) !== isObject(bv)) return isObject(av) ? 1 : -1;
    return rank(a) - rank(b) || (rank(a) === preferred.length ? a.localeCompare(b, 'en') : 0);
  };
  const sorted = (_key, v) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(order)) : v);
  return `${JSON.stringify(value, sorted, 2)}\n`;
}
