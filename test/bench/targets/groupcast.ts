import { request } from 'node:http';
import { freePort, sleep, spawnGroup, waitForPort } from '../procs.ts';
import {
  type Endpoint,
  LOCALHOST,
  type Running,
  type StartOptions,
  type TargetSpec,
} from './types.ts';

/** Does anything answer HTTP on this port (the API may not exist yet)? */
export function httpAnswers(addr: Endpoint, path: string, ms = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: addr.host, port: addr.port, path, method: 'GET', timeout: ms },
      (res) => {
        res.resume();
        resolve(res.statusCode !== undefined && res.statusCode < 500);
        res.destroy();
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The groupcast sidecar in its own process, every listener on a free port, logging warnings only. */
export async function startGroupcast(name: string, opts: StartOptions = {}): Promise<Running> {
  const [tcp, udp, http] = [await freePort(), await freePort(), await freePort()];
  const prof = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
  // What `npm start` runs: the bundle the bench built at its start.
  const proc = spawnGroup(name, process.execPath, [...prof, 'sidecar/bin.js'], {
    env: {
      GROUPCAST_HOST: LOCALHOST,
      GROUPCAST_TCP_PORT: String(tcp),
      GROUPCAST_UDP_PORT: String(udp),
      GROUPCAST_HTTP_PORT: String(http),
      GROUPCAST_LOG_LEVEL: 'warn',
      // Off unless a target drives it (its default port would clash between targets).
      GROUPCAST_RESP_PORT: 'off',
      // Every load generator connects from 127.0.0.1: lift the per-address limits.
      GROUPCAST_MAX_CONNECTIONS: '100000',
      GROUPCAST_MAX_CONNECTIONS_PER_IP: '100000',
      GROUPCAST_MAX_SSE_PER_IP: '100000',
      // Every UDP receiver registers from 127.0.0.1 and registrations outlive a case; the group's
      // send rate is what the UDP rows measure, so its cap is lifted too.
      GROUPCAST_UDP_REGISTRATIONS_PER_IP: '100000',
      GROUPCAST_UDP_SEND_RATE: '1000000000',
      ...opts.env,
    },
  });
  await waitForPort(tcp, proc);
  const httpAddr = { host: LOCALHOST, port: http };
  // The HTTP listener may start a moment after TCP; no answer within a second means no API yet.
  let api = false;
  for (let i = 0; i < 5 && !api; i++) {
    api = await httpAnswers(httpAddr, '/groups/bench-probe/events');
    if (!api) await sleep(200);
  }
  return {
    name,
    procs: [proc],
    tcp: { addr: { host: LOCALHOST, port: tcp }, protocol: 'line' },
    udp: { host: LOCALHOST, port: udp },
    http: api ? { addr: httpAddr, flavor: 'groupcast' } : undefined,
    stop: () => proc.stop(),
  };
}

export const groupcast: TargetSpec = {
  name: 'groupcast',
  unavailable: () => null,
  start: (opts) => startGroupcast('groupcast', opts),
};

/** The same sidecar driven by the bench's Redis driver over its RESP port, as redis-server is. */
export const groupcastResp: TargetSpec = {
  name: 'groupcast-resp',
  unavailable: () => null,
  async start(opts = {}) {
    const port = await freePort();
    const running = await startGroupcast('groupcast-resp', {
      ...opts,
      env: { ...opts.env, GROUPCAST_RESP_PORT: String(port) },
    });
    await waitForPort(port, running.procs[0]);
    return { ...running, tcp: { addr: { host: LOCALHOST, port }, protocol: 'redis' } };
  },
};
