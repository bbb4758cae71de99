/**
 * The Deno edge worker in front of its own groupcast sidecar: POST and SSE both go to the edge,
 * which forwards to the sidecar over HTTP/SSE. Both processes count for CPU; `edgeProc` alone is
 * what the memory scenario measures (the sidecar holds one upstream stream per group).
 */
import { join } from 'node:path';
import type { Proc } from '../procs.ts';
import { freePort, ROOT, spawnGroup, waitForPort } from '../procs.ts';
import { startGroupcast } from './groupcast.ts';
import {
  type Endpoint,
  LOCALHOST,
  type Running,
  type StartOptions,
  type TargetSpec,
} from './types.ts';

const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

export interface RunningEdge extends Running {
  readonly edgeProc: Proc;
  readonly sidecarProc: Proc;
  /** The sidecar's own HTTP API, behind the edge. */
  readonly sidecarHttp: Endpoint;
}

export async function startEdge(name: string, opts: StartOptions = {}): Promise<RunningEdge> {
  const sidecar = await startGroupcast(`${name}-sidecar`, { env: opts.env });
  if (!sidecar.http) {
    await sidecar.stop();
    throw new Error('the sidecar has no HTTP API');
  }
  const port = await freePort();
  // --profile: a wrapper records a V8 CPU profile in-process (Deno has no --cpu-prof flag).
  const entry = opts.profileDir ? 'test/bench/targets/edge-profiled.ts' : 'api/edge/deno.ts';
  const proc = spawnGroup(
    name,
    DENO,
    [
      'run',
      '--allow-net',
      '--allow-env',
      ...(opts.profileDir ? ['--allow-write', '--allow-sys'] : []),
      entry,
    ],
    {
      env: {
        GROUPCAST_EDGE_HOST: LOCALHOST,
        GROUPCAST_EDGE_PORT: String(port),
        GROUPCAST_SIDECAR_URL: `http://${sidecar.http.addr.host}:${sidecar.http.addr.port}`,
        GROUPCAST_LOG_LEVEL: 'warn',
        GROUPCAST_MAX_CONNECTIONS: '100000',
        GROUPCAST_MAX_SSE_PER_IP: '100000',
        ...(opts.profileDir ? { EDGE_PROFILE_DIR: opts.profileDir } : {}),
        ...opts.env,
      },
    },
  );
  try {
    await waitForPort(port, proc);
  } catch (err) {
    await Promise.all([proc.stop(), sidecar.stop()]);
    throw err;
  }
  return {
    name,
    procs: [sidecar.procs[0], proc],
    edgeProc: proc,
    sidecarProc: sidecar.procs[0],
    sidecarHttp: sidecar.http.addr,
    http: { addr: { host: LOCALHOST, port }, flavor: 'groupcast' },
    stop: async () => {
      await proc.stop();
      await sidecar.stop();
    },
  };
}

export const edge: TargetSpec = {
  name: 'edge',
  unavailable: () => null,
  start: (opts) => startEdge('edge', opts),
};
