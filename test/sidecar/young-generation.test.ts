/**
 * holdYoungGeneration (sidecar/heap-room.ts): a sidecar that many members join at once keeps V8's
 * young generation at its start-up size instead of letting it grow to 2 x 16 MB, whose pages
 * would stay resident while the members idle; a young-generation flag given to node wins.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundle, DIST } from '../../sidecar/bundle.js';
import { freshBundle } from '../../sidecar/bundle-fresh.js';
import { hostPort, waitFor } from '../helpers/common.ts';
import { ROOT } from '../helpers/process.ts';
import { startSidecarProcess } from '../helpers/sidecar-process.ts';

const PROBE = join(ROOT, 'test', 'fixtures', 'exit-probe.mjs');
const MiB = 1024 * 1024;
const MEMBERS = 6000;
const GROUPS = 60;
const tmp = mkdtempSync(join(tmpdir(), 'groupcast-young-'));

/** MEMBERS join GROUPS groups at once, each gets one message; V8's new space size at exit. */
async function newSpaceAfterStorm(name: string, nodeOptions = ''): Promise<number> {
  const out = join(tmp, `${name}.json`);
  const sc = await startSidecarProcess(
    {
      NODE_OPTIONS: `--import=${PROBE} ${nodeOptions}`,
      EXIT_PROBE_OUT: out,
      GROUPCAST_RESP_PORT: 'off',
      GROUPCAST_HTTP_PORT: 'off',
      GROUPCAST_LOG_LEVEL: 'warn',
      GROUPCAST_MAX_CONNECTIONS_PER_IP: String(MEMBERS + GROUPS),
    },
    ['tcp'],
  );
  const { host, port } = hostPort(sc.addresses.tcp);
  const sockets: Socket[] = [];
  let received = 0;
  try {
    for (let i = 0; i < MEMBERS + GROUPS; i++) {
      const s = connect(port, host);
      s.write(`SOCKETFORWARDER-NEW:storm-${i % GROUPS}\n`);
      s.on('data', () => {
        received++;
      });
      s.on('error', () => {});
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => (s.readyState === 'open' ? null : once(s, 'connect'))));
    // The last GROUPS sockets send; every other member of their group must receive.
    await new Promise((r) => setTimeout(r, 300));
    for (const s of sockets.slice(MEMBERS)) s.write('hello\n');
    await waitFor(() => received >= MEMBERS, 15_000, 'every member to receive');
  } finally {
    for (const s of sockets) s.destroy();
    assert.is(await sc.stop('SIGTERM'), 0, sc.stderr());
  }
  return (JSON.parse(readFileSync(out, 'utf8')) as { newSpaceBytes: number }).newSpaceBytes;
}

test.before(async () => {
  assert.ok(await bundle(), 'esbuild built the bundle');
  assert.ok(freshBundle(DIST, ROOT), 'bin.js runs the bundle');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('a connect storm leaves the young generation at its start-up size', async () => {
  const bytes = await newSpaceAfterStorm('held');
  assert.ok(bytes > 0, 'the probe read the new space');
  assert.ok(bytes <= 4 * MiB, `new space ${(bytes / MiB).toFixed(1)} MiB`);
});

test('a young-generation flag given to node is left as it is', async () => {
  const bytes = await newSpaceAfterStorm('given', '--max-semi-space-size=16');
  assert.ok(bytes > 8 * MiB, `new space ${(bytes / MiB).toFixed(1)} MiB`);
});

test.run();
