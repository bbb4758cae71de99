import { join } from 'node:path';
import { ROOT, type Started, startProcess } from './process.ts';

// Tests read arbitrary JSON answers.
// biome-ignore lint/suspicious/noExplicitAny: test helper
type Json = any;

export const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

/** A real sidecar process (TCP and HTTP on free ports unless `env` says otherwise). */
export function startSidecarProcess(env: Record<string, string> = {}): Promise<Started> {
  return startProcess(
    process.execPath,
    ['--import', 'tsx', 'sidecar/main.ts'],
    {
      GROUPCAST_HOST: '127.0.0.1',
      GROUPCAST_TCP_PORT: '0',
      GROUPCAST_UDP_PORT: 'off',
      GROUPCAST_HTTP_PORT: '0',
      GROUPCAST_RESP_PORT: '0',
      ...env,
    },
    ['tcp', 'http'],
  );
}

/** A real edge worker: Deno running api/edge/deno.ts against a sidecar. */
export function startEdgeProcess(
  sidecarHttp: string,
  env: Record<string, string> = {},
): Promise<Started> {
  return startProcess(
    DENO,
    ['run', '--allow-net', '--allow-env', 'api/edge/deno.ts'],
    {
      GROUPCAST_SIDECAR_URL: `http://${sidecarHttp}`,
      GROUPCAST_EDGE_PORT: '0',
      GROUPCAST_UPSTREAM_RETRY_MIN: '50ms',
      GROUPCAST_UPSTREAM_RETRY_MAX: '500ms',
      NO_COLOR: '1',
      ...env,
    },
    ['http'],
  );
}

export async function request(
  base: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`http://${base}${path}`, { method, body, headers });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}
