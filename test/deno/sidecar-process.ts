/** Starts the real sidecar (Node, sidecar/bin.js) from a Deno test and stops it again. */

export { hostPort, waitFor } from '../helpers/common.ts';

const ROOT = new URL('../../', import.meta.url);

export interface SidecarProcess {
  tcp: string;
  http: string;
  url: string;
  stop(): Promise<void>;
}

export async function startSidecar(env: Record<string, string> = {}): Promise<SidecarProcess> {
  const child = new Deno.Command('node', {
    args: ['sidecar/bin.js', 'serve'],
    cwd: ROOT,
    env: {
      GROUPCAST_HOST: '127.0.0.1',
      GROUPCAST_TCP_PORT: '0',
      GROUPCAST_UDP_PORT: 'off',
      GROUPCAST_HTTP_PORT: '0',
      GROUPCAST_RESP_PORT: 'off',
      ...env,
    },
    stdout: 'piped',
    stderr: 'null',
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const addresses: Record<string, string> = {};
  let buffered = '';
  const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
  try {
    while (!addresses.tcp || !addresses.http) {
      const { done, value } = await lines.read();
      if (done) throw new Error('the sidecar exited before listening');
      buffered += value;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        try {
          const rec = JSON.parse(line);
          if (String(rec.msg).includes(' listening on ')) addresses[rec.transport] = rec.address;
        } catch {
          // not a log line
        }
      }
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining stdout so the sidecar never blocks on a full pipe.
  const drained = (async () => {
    try {
      while (!(await lines.read()).done) {
        // discard
      }
    } catch {
      // the process went away
    }
  })();
  let stopped: Promise<void> | undefined;
  return {
    tcp: addresses.tcp,
    http: addresses.http,
    url: `http://${addresses.http}`,
    stop() {
      stopped ??= (async () => {
        try {
          child.kill('SIGTERM');
        } catch {
          // already gone
        }
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await child.status;
        clearTimeout(killer);
        await drained;
      })();
      return stopped;
    },
  };
}
