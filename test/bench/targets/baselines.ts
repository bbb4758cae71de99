/** The baselines groupcast is measured against, each started fresh on a free port. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, hasCommand, spawnGroup, waitForLine, waitForPort, workDir } from '../procs.ts';
import { nchanModule, nginxConf } from './nchan-conf.ts';
import { LOCALHOST, type Running, type TargetSpec } from './types.ts';

const TARGETS_DIR = import.meta.dirname;

/**
 * How node runs a baseline's TypeScript file: through tsx, or transpiled once to plain JS with
 * esbuild (installed with tsx; without it, tsx again).
 */
async function nodeArgs(file: string, plainJs = false): Promise<string[]> {
  const source = join(TARGETS_DIR, file);
  const viaTsx = ['--import', 'tsx', source];
  if (!plainJs) return viaTsx;
  const out = join(workDir(), file.replace(/\.ts$/, '.mjs'));
  if (!existsSync(out)) {
    const esbuild = await import('esbuild').catch(() => null);
    if (!esbuild) return viaTsx;
    const code = readFileSync(source, 'utf8');
    writeFileSync(out, esbuild.transformSync(code, { loader: 'ts', format: 'esm' }).code);
  }
  return [out];
}

/** The ~50-line Node forwarder (TCP) and its UDP twin, in one target. */
export const forwarder: TargetSpec = {
  name: 'forwarder',
  unavailable: () => null,
  async start(opts = {}) {
    const [tcp, udp] = [await freePort(), await freePort()];
    const node = async (file: string, port: number) =>
      spawnGroup(`forwarder ${file}`, process.execPath, await nodeArgs(file, opts.plainJs), {
        env: { PORT: String(port) },
      });
    const t = await node('forwarder.ts', tcp);
    const u = await node('udp-forwarder.ts', udp);
    await waitForPort(tcp, t);
    await waitForLine(u, /udp listening/);
    return {
      name: 'forwarder',
      procs: [t, u],
      tcp: { addr: { host: LOCALHOST, port: tcp }, protocol: 'line' },
      udp: { host: LOCALHOST, port: udp },
      stop: async () => {
        await Promise.all([t.stop(), u.stop()]);
      },
    } satisfies Running;
  },
};

/** Debian's redis-server, no persistence, driven over raw RESP. */
export const redis: TargetSpec = {
  name: 'redis',
  unavailable: () => (hasCommand('redis-server') ? null : 'redis-server not installed'),
  start: () => startRedis('redis'),
};

export async function startRedis(name: string): Promise<Running & { url: string }> {
  const port = await freePort();
  const proc = spawnGroup(name, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    LOCALHOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxclients',
    '50000',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
  ]);
  await waitForPort(port, proc);
  return {
    name,
    url: `redis://${LOCALHOST}:${port}`,
    procs: [proc],
    tcp: { addr: { host: LOCALHOST, port }, protocol: 'redis' },
    stop: () => proc.stop(),
  };
}

/** Debian's nats-server (Go, uses every core), raw protocol. */
export const nats: TargetSpec = {
  name: 'nats',
  unavailable: () => (hasCommand('nats-server') ? null : 'nats-server not installed'),
  async start() {
    const port = await freePort();
    const proc = spawnGroup('nats', 'nats-server', ['-a', LOCALHOST, '-p', String(port)]);
    await waitForPort(port, proc);
    return {
      name: 'nats',
      procs: [proc],
      tcp: { addr: { host: LOCALHOST, port }, protocol: 'nats' },
      stop: () => proc.stop(),
    };
  },
};

/** nginx-light with the nchan module, one worker process, POST publisher and EventSource subscriber. */
export const nchan: TargetSpec = {
  name: 'nchan',
  unavailable: () => {
    if (!hasCommand('nginx')) return 'nginx not installed';
    return nchanModule() ? null : 'nchan module not installed (libnginx-mod-nchan)';
  },
  async start() {
    const port = await freePort();
    const dir = join(workDir(), `nginx-${port}`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(nchanModule() as string, dir, port));
    const proc = spawnGroup('nchan', 'nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;']);
    await waitForPort(port, proc);
    return {
      name: 'nchan',
      procs: [proc],
      http: { addr: { host: LOCALHOST, port }, flavor: 'nchan' },
      stop: () => proc.stop(),
    };
  },
};

/**
 * A Node baseline of the HTTP rows in one file (`node` flavor: POST /pub/<group>, GET
 * /sub/<group>), run as plain JavaScript always, or only when the run asks for it (memory rows).
 */
function nodeHttpTarget(name: string, file: string, alwaysPlainJs: boolean): TargetSpec {
  return {
    name,
    unavailable: () => null,
    async start(opts = {}) {
      const port = await freePort();
      const args = await nodeArgs(file, alwaysPlainJs || opts.plainJs);
      const proc = spawnGroup(name, process.execPath, args, { env: { PORT: String(port) } });
      await waitForPort(port, proc);
      return {
        name,
        procs: [proc],
        http: { addr: { host: LOCALHOST, port }, flavor: 'node' },
        stop: () => proc.stop(),
      };
    },
  };
}

/** A bare node:http SSE hub: one res.write per subscriber per POST. */
export const nodeSse = nodeHttpTarget('node-http', 'node-sse.ts', false);

/** Node's floor for the HTTP rows: node:net, no HTTP library, no checks (node-floor.ts). */
export const nodeFloor = nodeHttpTarget('node-floor', 'node-floor.ts', true);
