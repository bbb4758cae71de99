import { createServer } from 'node:net';
import { startDaemon } from './process.ts';

/** A port nothing listens on right now (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGKILL for a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * A real redis-server for one test file: 127.0.0.1 only, on a free port (or `port`, to restart
 * one on the same address), no persistence, in its own process group.
 */
export async function startRedis(port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const daemon = await startDaemon('redis-server', args, /Ready to accept connections/);
  return {
    pid: daemon.child.pid as number,
    port: p,
    url: `redis://127.0.0.1:${p}`,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await daemon.stop(signal);
    },
  };
}
