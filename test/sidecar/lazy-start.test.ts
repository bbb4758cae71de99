/**
 * What a sidecar started from its bundle (`node sidecar/bin.js`, what `npm start` runs) leaves for
 * first use, and that first use works: the Hono adapter (api/node-adapter.ts), which makes Node
 * load its fetch classes (undici) and node:http2, is imported on the first request the app
 * answers; an idle sidecar never loads either (docs/performance.md, "Start-up and idle memory").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundle, DIST } from '../../sidecar/bundle.js';
import { freshBundle } from '../../sidecar/bundle-fresh.js';
import { waitFor } from '../helpers/common.ts';
import { ROOT } from '../helpers/process.ts';
import { startSidecarProcess } from '../helpers/sidecar-process.ts';

const PROBE = join(ROOT, 'test', 'fixtures', 'exit-probe.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'groupcast-lazy-'));

/** A bundled sidecar with the module-list probe; `use` runs against its HTTP address. */
async function modulesAfter(name: string, use: (http: string) => Promise<void>): Promise<string[]> {
  const out = join(tmp, `${name}.txt`);
  const sc = await startSidecarProcess({
    NODE_OPTIONS: `--import=${PROBE}`,
    EXIT_PROBE_OUT: out,
    GROUPCAST_RESP_PORT: 'off',
  });
  try {
    await use(sc.addresses.http);
  } finally {
    assert.is(await sc.stop('SIGTERM'), 0, sc.stderr());
  }
  return (JSON.parse(readFileSync(out, 'utf8')) as { modules: string[] }).modules;
}

test.before(async () => {
  assert.ok(await bundle(), 'esbuild built the bundle');
  assert.ok(freshBundle(DIST, ROOT), 'bin.js runs the bundle');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('an idle sidecar loads neither the HTTP adapter nor fetch (undici) nor http2', async () => {
  const idle = await modulesAfter('idle', () => new Promise((r) => setTimeout(r, 300)));
  assert.ok(idle.includes('http'), 'the probe saw the process (node:http is loaded)');
  assert.not.ok(idle.includes('internal/deps/undici/undici'), 'undici');
  assert.not.ok(idle.includes('http2'), 'http2');
});

test('the POST fast path alone does not load the adapter', async () => {
  const posted = await modulesAfter('post', async (http) => {
    const res = await fetch(`http://${http}/groups/lazy/messages`, { method: 'POST', body: 'hi' });
    assert.is(res.status, 202);
  });
  assert.not.ok(posted.includes('internal/deps/undici/undici'));
});

test('the first app requests, many at once, are all answered; the stream and POSTs after them work', async () => {
  const used = await modulesAfter('used', async (http) => {
    // Twenty requests before the adapter has loaded: each must wait for it, none be dropped.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`http://${http}/healthz`, { signal: AbortSignal.timeout(5000) }),
      ),
    );
    for (const res of answers) {
      assert.is(res.status, 200);
      await res.text();
    }
    const sse = await fetch(`http://${http}/groups/lazy/events`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.is(sse.status, 200);
    assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = sse.body?.getReader();
    assert.ok(reader);
    let text = '';
    const decoder = new TextDecoder();
    const post = await fetch(`http://${http}/groups/lazy/messages`, {
      method: 'POST',
      body: 'after the adapter',
    });
    assert.is(post.status, 202);
    await waitFor(
      async () => {
        const { value } = await reader.read();
        text += decoder.decode(value, { stream: true });
        return text.includes('data: after the adapter');
      },
      5000,
      'the POST on the stream',
    );
    await reader.cancel();
  });
  // The probe would see it: the adapter did load this time.
  assert.ok(used.includes('internal/deps/undici/undici'));
});

test('a rebuild keeps the previous build own files one build back, for a sidecar still running from it', async () => {
  const outputs = JSON.parse(readFileSync(join(DIST, 'outputs.json'), 'utf8')) as string[];
  assert.ok(outputs.includes('cli.js'));
  assert.ok(
    outputs.some((f) => f.startsWith('node-adapter-')),
    'the adapter is a chunk of its own',
  );
  // As if the build before had a chunk this one does not make.
  writeFileSync(join(DIST, 'gone-1234.js'), 'export {};');
  writeFileSync(join(DIST, 'outputs.json'), JSON.stringify([...outputs, 'gone-1234.js']));
  assert.ok(await bundle());
  assert.ok(existsSync(join(DIST, 'gone-1234.js')), 'kept for one build');
  assert.ok(await bundle());
  assert.not.ok(existsSync(join(DIST, 'gone-1234.js')), 'dropped after two');
  for (const f of outputs) assert.ok(existsSync(join(DIST, f)), f);
});

test('checking the bundle is fresh does not make V8 optimize anything (TurboFan costs ~4 MB of RSS)', () => {
  const root = join(tmp, 'fresh');
  mkdirSync(join(root, 'dist'), { recursive: true });
  mkdirSync(join(root, 'src'));
  // Twice the inputs the bundle has now, so growth does not bring it back unseen.
  const inputs = Array.from({ length: 250 }, (_, i) => `src/f${i}.ts`);
  for (const f of inputs) writeFileSync(join(root, f), '');
  writeFileSync(join(root, 'dist', 'cli.js'), '');
  writeFileSync(join(root, 'dist', 'inputs.json'), JSON.stringify(inputs));
  const script = `import { freshBundle } from ${JSON.stringify(join(ROOT, 'sidecar', 'bundle-fresh.js'))};
    if (!freshBundle(${JSON.stringify(join(root, 'dist'))}, ${JSON.stringify(root)})) process.exit(3);`;
  const run = spawnSync(process.execPath, ['--trace-opt', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.is(run.status, 0, run.stderr);
  assert.not.match(run.stdout, /completed optimizing/);
});

test.run();
