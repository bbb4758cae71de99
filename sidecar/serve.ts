import { authConfigured } from '../api/auth.ts';
import { isLoopback } from '../shared/cidr.ts';
import { GroupcastError, toGroupcastError } from '../shared/errors.ts';
import { SIDECAR_OPTIONS, type SidecarOptions } from '../shared/options/sidecar.ts';
import { loadSidecarOptions } from './config.ts';
import { followHistoryHeld, makeHeapRoomForBatches } from './heap-room.ts';
import { trimWhenIdle } from './idle-trim.ts';
import { createLogger, endLogs, logFormatFor } from './logger.ts';
import { startSidecar } from './server.ts';

function usage(): string {
  const rows = SIDECAR_OPTIONS.map((s) => {
    const def = s.defaultDoc ?? JSON.stringify(s.default);
    return `  --${s.flag.padEnd(22)} ${s.env.padEnd(32)} ${s.doc} [default: ${def}]`;
  });
  return [
    'Usage: groupcast serve [options] [<tcp-port> [<udp-port>]]',
    '',
    'Options (flag, environment name, meaning); precedence: defaults < --config file < environment < flags',
    ...rows,
  ].join('\n');
}

/** What is open to the network when the sidecar binds beyond loopback. */
export function exposureWarnings(o: Readonly<SidecarOptions>): string[] {
  if (isLoopback(o.host)) return [];
  const out: string[] = [];
  if (o.httpPort !== null && !authConfigured(o) && o.httpAllow.length === 0) {
    out.push(
      `SECURITY WARNING: HTTP API on ${o.host} with no auth: anyone who can reach it may read and publish every group (set GROUPCAST_JWT_SECRET, GROUPCAST_API_KEYS or GROUPCAST_HTTP_ALLOW)`,
    );
  }
  if (o.tcpPort !== null && o.joinSecrets.length === 0 && o.tcpAllow.length === 0) {
    out.push(
      `SECURITY WARNING: TCP on ${o.host} with no join secrets and no allowlist: anyone who can reach it may join any group (set GROUPCAST_JOIN_SECRETS or GROUPCAST_TCP_ALLOW)`,
    );
  }
  if (o.respPort !== null && !authConfigured(o) && o.tcpAllow.length === 0) {
    out.push(
      `SECURITY WARNING: RESP (Redis pub/sub) on ${o.host} with no auth and no allowlist: any Redis client that can reach it may subscribe and publish to every group (set GROUPCAST_API_KEYS / GROUPCAST_JWT_SECRET or GROUPCAST_TCP_ALLOW)`,
    );
  }
  if (o.udpPort !== null && o.udpAllow.length === 0 && !o.udpRegisteredOnly) {
    out.push(
      `SECURITY WARNING: UDP on ${o.host} accepts datagrams from anyone (set GROUPCAST_UDP_ALLOW or GROUPCAST_UDP_REGISTERED_ONLY)`,
    );
  }
  return out;
}

/** Starts the sidecar from the command line; returns once it is listening. */
export async function serve(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  let resolved: ReturnType<typeof loadSidecarOptions>;
  try {
    resolved = loadSidecarOptions(argv, process.env);
  } catch (err) {
    process.stderr.write(
      `groupcast: ${err instanceof GroupcastError ? err.message : String(err)}\n`,
    );
    process.exit(2);
  }
  const { options } = resolved;
  const terminal = process.stdout.isTTY === true;
  const log = createLogger(options.logLevel, { format: options.logFormat, terminal });
  if (resolved.socketForwarderMode) {
    log.info(
      { framing: options.tcpFraming, host: options.host },
      'SocketForwarder keys found: SocketForwarder defaults apply where not set',
    );
  }
  // The process is ours here (not when startSidecar is embedded): V8's heap may be tuned.
  if (options.redisUrl) makeHeapRoomForBatches();
  let sidecar: Awaited<ReturnType<typeof startSidecar>>;
  try {
    sidecar = await startSidecar(options, log);
  } catch (err) {
    const e = toGroupcastError(err);
    // One line for a person: on stderr; the JSON record too when stdout goes to a log pipeline.
    process.stderr.write(`groupcast: cannot start: ${e.message}\n`);
    if (logFormatFor(options.logFormat, terminal) === 'json') {
      log.fatal({ code: e.code, err: e.message }, 'cannot start');
    }
    // Exit only once the log line is out: an asynchronous destination may still hold it.
    await endLogs(log);
    process.exit(1);
  }
  // On its own, the sidecar gets the same room only while its history holds much (heap-room.ts).
  const budget = sidecar.hub.budget;
  const stopFollowing = options.redisUrl ? () => {} : followHistoryHeld(() => budget.used.history);
  // And gives back the young generation a burst grew, once it is idle (idle-trim.ts).
  const stopTrimming = options.idleTrim ? trimWhenIdle(log) : () => {};
  log.info(
    { node: sidecar.hub.node, backplane: sidecar.hub.cluster?.kind ?? 'memory' },
    `node ${sidecar.hub.node} (${sidecar.hub.cluster ? 'sharing groups over Redis' : 'groups in memory'})`,
  );
  // Where it listens is always printed, whatever the log level: scripts wait for these lines.
  const always = log.child({}, { level: 'info' });
  for (const [transport, address] of Object.entries(sidecar.addresses)) {
    always.info({ transport, address }, `${transport} listening on ${address}`);
  }
  if (sidecar.addresses.http && options.dashboard) {
    // Bound to every interface: the page is still reachable on this machine's loopback.
    const local = sidecar.addresses.http
      .replace(/^0\.0\.0\.0:/, '127.0.0.1:')
      .replace(/^\[::\]:/, '[::1]:');
    log.info({ url: `http://${local}/` }, `dashboard at http://${local}/`);
  }
  for (const warning of exposureWarnings(options)) log.warn({ host: options.host }, warning);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stopFollowing();
    stopTrimming();
    log.info({ signal }, 'shutting down');
    sidecar.close().then(
      () => {
        log.info('stopped');
        endLogs(log).then(() => process.exit(0));
      },
      (err) => {
        log.error({ err: (err as Error).message }, 'shutdown failed');
        endLogs(log).then(() => process.exit(1));
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
