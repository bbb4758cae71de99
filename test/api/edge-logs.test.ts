import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DENO } from '../helpers/edge.ts';
import { runProcess, spawnProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/sidecar.ts';

const EDGE = ['run', '--allow-net', '--allow-env', 'api/edge/deno.ts'];
// The edge listens without asking the sidecar anything; nothing needs to answer here.
const BASE = { GROUPCAST_SIDECAR_URL: 'http://127.0.0.1:9', NO_COLOR: '1' };

test('GROUPCAST_LOG_FORMAT=pretty: the edge worker logs one readable line per event', async () => {
  const p = spawnProcess(DENO, EDGE, {
    ...BASE,
    GROUPCAST_EDGE_PORT: '0',
    GROUPCAST_LOG_FORMAT: 'pretty',
  });
  try {
    await waitFor(
      () =>
        /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: http listening on 127\.0\.0\.1:\d+ sidecar=http:\/\/127\.0\.0\.1:9$/m.test(
          p.stdout(),
        ),
      15_000,
      `a pretty listening line in ${JSON.stringify(p.stdout())}`,
    );
  } finally {
    await p.stop('SIGTERM');
  }
});

test('an edge port in use: one line naming GROUPCAST_EDGE_PORT / --port and the address, exit 1', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const r = await runProcess(DENO, EDGE, { ...BASE, GROUPCAST_EDGE_PORT: String(port) });
    assert.is(r.code, 1, r.stderr);
    assert.is(
      r.stderr,
      `groupcast-edge: cannot start: cannot listen on 127.0.0.1:${port} (GROUPCAST_EDGE_PORT / --port): address already in use (EADDRINUSE): another process holds it; choose another port, or 0\n`,
    );
    // Not a terminal: the log stays JSON, with the code.
    assert.match(r.stdout, /"code":"CANNOT_LISTEN"/);
  } finally {
    server.close();
  }
});

test.run();
