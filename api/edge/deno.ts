// The edge worker on Deno: `deno task edge` (or `deno run --allow-net --allow-env api/edge/deno.ts`).
import type { Context } from 'hono';
import { CannotListenError, GroupcastError } from '../../shared/errors.ts';
import { formatHostPort } from '../../shared/host-port.ts';
import { EDGE_OPTIONS } from '../../shared/options/edge.ts';
import { denoTcp } from '../client/deno-transport.ts';
import { createEdge, type Edge } from './edge.ts';

function usage(): string {
  const rows = EDGE_OPTIONS.map((s) => {
    const def = s.defaultDoc ?? JSON.stringify(s.default);
    return `  --${s.flag.padEnd(20)} ${s.env.padEnd(30)} ${s.doc} [default: ${def}]`;
  });
  return [
    'Usage: deno task edge [options]',
    '',
    'Serves the groupcast HTTP/SSE API backed by a sidecar. Precedence: defaults < environment < flags',
    ...rows,
  ].join('\n');
}

/** A bind failure names the option that chose the address, as the sidecar's do. */
function cannotListen(err: unknown, address: string): GroupcastError {
  const reason =
    err instanceof Deno.errors.AddrInUse
      ? 'address already in use (EADDRINUSE): another process holds it; choose another port, or 0'
      : err instanceof Deno.errors.AddrNotAvailable
        ? 'no such address on this machine (EADDRNOTAVAIL): see GROUPCAST_EDGE_HOST / --host'
        : err instanceof Deno.errors.PermissionDenied
          ? 'permission denied (EACCES): ports below 1024 need privileges'
          : (err as Error).message;
  return new CannotListenError('GROUPCAST_EDGE_PORT / --port', address, reason);
}

if (Deno.args.includes('--help') || Deno.args.includes('-h')) {
  console.log(usage());
  Deno.exit(0);
}

let edge: Edge;
try {
  edge = createEdge(Deno.env.toObject(), Deno.args, {
    terminal: Deno.stdout.isTerminal(),
    logFields: { pid: Deno.pid },
    // POSTs to an http: sidecar go on the edge's own connections (PublishConnections), not fetch.
    connect: denoTcp,
    remoteAddress: (c: Context) => {
      const a = (c.env as Deno.ServeHandlerInfo<Deno.NetAddr>).remoteAddr;
      return formatHostPort(a.hostname, a.port);
    },
  });
} catch (err) {
  console.error(`groupcast-edge: ${err instanceof GroupcastError ? err.message : String(err)}`);
  Deno.exit(2);
}

const { app, publishPath, hub, options, log } = edge;
/** The hot route first, without Hono's router and Context; the app answers everything else. */
const serve: Deno.ServeHandler<Deno.NetAddr> = publishPath
  ? (req, info) =>
      publishPath(req, () => formatHostPort(info.remoteAddr.hostname, info.remoteAddr.port)) ??
      app.fetch(req, info)
  : app.fetch;
let server: Deno.HttpServer<Deno.NetAddr>;
try {
  server = Deno.serve(
    {
      hostname: options.host,
      port: options.port,
      // Deno reports here a response stream that ended in an error: a slow subscriber cut at its
      // queue limit is expected and counted, not worth a stack trace.
      onError: (err) => {
        if (err instanceof GroupcastError && err.code === 'SLOW_CONSUMER') {
          log('debug', 'slow subscriber cut', { reason: err.message });
        } else log('error', 'http error', { err: err instanceof Error ? err.stack : String(err) });
        return new Response(null, { status: 500 });
      },
      onListen: (addr) => {
        const address = formatHostPort(addr.hostname, addr.port);
        hub.listeners.http = { listening: true, address };
        log('info', `http listening on ${address}`, {
          transport: 'http',
          address,
          sidecar: hub.sidecar.url,
        });
      },
    },
    serve,
  );
} catch (err) {
  const e = cannotListen(err, formatHostPort(options.host, options.port));
  log('error', 'cannot start', { code: e.code, err: e.message });
  console.error(`groupcast-edge: cannot start: ${e.message}`);
  Deno.exit(1);
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('info', 'shutting down', { signal });
  // Open streams never end by themselves: end them (with `event: close`), then drain.
  hub.close();
  const deadline = setTimeout(() => {
    log('warn', 'shutdown grace passed; exiting');
    Deno.exit(0);
  }, options.shutdownGraceMs);
  await server.shutdown();
  clearTimeout(deadline);
  log('info', 'stopped');
  Deno.exit(0);
}
Deno.addSignalListener('SIGINT', () => void stop('SIGINT'));
Deno.addSignalListener('SIGTERM', () => void stop('SIGTERM'));
