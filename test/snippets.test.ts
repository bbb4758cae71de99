// Every code block of README.md and docs/**/*.md marked `<!-- snippet: NAME -->` runs here
// against a real sidecar, and what it prints or delivers is checked, so a snippet cannot rot
// (CONTRIBUTING.md, "Snippets that run"). A marker with an unknown NAME, a marker not followed
// by a code block, and a known NAME found nowhere all fail.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Sidecar } from '../sidecar/server.ts';
import { ROOT } from './helpers/process.ts';
import { sleep, startTestSidecar, waitFor } from './helpers/sidecar.ts';
import { SseClient } from './helpers/sse.ts';
import { TcpPeer } from './helpers/tcp.ts';

interface Snippet {
  name: string;
  lang: string;
  code: string;
  /** `file:line` of the marker. */
  at: string;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a snippet runs against: a fresh sidecar, and its run with the default ports replaced. */
interface Context {
  sc: Sidecar;
  /** Starts the snippet; `untilOut` (if given) ends it once its stdout matches. */
  run(untilOut?: RegExp): Promise<Ran>;
}

const MARKER = /^<!-- snippet: ([a-z0-9-]+) -->$/;
const FENCE = /^```(\w*)\s*$/;
const RUN_MS = 15_000;

/** NAME -> what it needs and what it must print or deliver. */
const CHECKS: Record<string, (snippet: Snippet, ctx: Context) => Promise<void>> = {
  'tcp-client': async (_s, { sc, run }) => {
    const member = await TcpPeer.open(sc.addresses.tcp as string, 'lobby');
    try {
      await waitFor(() => sc.hub.findGroup('lobby')?.counts.tcp === 1);
      const r = await run();
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, /^connecting\nconnected\n/);
      assert.match(r.stdout, /closed\n$/);
      await member.waitForText('player Steve joined proxy-1\n');
    } finally {
      member.close();
    }
  },
  'http-client': async (_s, { run }) => {
    const r = await run(/^\d+-1 server lobby-2 is full$/m);
    assert.match(r.stdout, /group: 'lobby'/, r.stdout + r.stderr);
    assert.match(r.stdout, /^\d+-1 server lobby-2 is full$/m, r.stdout + r.stderr);
  },
  'publish-curl': async (_s, { sc, run }) => {
    const sub = await SseClient.open(`http://${sc.addresses.http}/groups/lobby/events`);
    try {
      await waitFor(() => sc.hub.findGroup('lobby')?.counts.sse === 1);
      const r = await run();
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\{"ids":\["\d+-1"\],"recipients":1\}/);
      assert.equal(
        (await sub.waitForMessages(3)).map((e) => e.data),
        ['hello', '{"a":1}', '{"b":2}'],
      );
    } finally {
      sub.close();
    }
  },
  'security-head': async (_s, { run }) => {
    const r = await run();
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200 OK/);
    assert.match(r.stdout, /"sse":0/);
  },
  'security-dots': async (_s, { run }) => {
    const r = await run();
    assert.is(r.code, 0, r.stderr);
    const codes = r.stdout.match(/"code":"\w+"/g);
    assert.equal(codes, [
      '"code":"INVALID_GROUP_ID"',
      '"code":"INVALID_GROUP_ID"',
      '"code":"BAD_REQUEST"',
    ]);
  },
};

function markdownFiles(): string[] {
  const out = [join(ROOT, 'README.md')];
  const walk = (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.md')) out.push(join(dir, e.name));
    }
  };
  walk(join(ROOT, 'docs'));
  return out;
}

/** Marked blocks, and every marker that is not followed by a code block. */
function collect(): { snippets: Snippet[]; problems: string[] } {
  const snippets: Snippet[] = [];
  const problems: string[] = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = MARKER.exec(lines[i].trim());
      if (!m) continue;
      const at = `${relative(ROOT, file)}:${i + 1}`;
      const fence = FENCE.exec(lines[i + 1] ?? '');
      const end = lines.findIndex((l, k) => k > i + 1 && /^```\s*$/.test(l));
      if (!fence || end < 0) {
        problems.push(`${at}: snippet ${m[1]} is not followed by a code block`);
        continue;
      }
      snippets.push({ name: m[1], lang: fence[1], code: lines.slice(i + 2, end).join('\n'), at });
    }
  }
  return { snippets, problems };
}

/** The documented ports (7400 TCP, 7401 UDP, 7480 HTTP) become the test sidecar's. */
function withPorts(code: string, sc: Sidecar): string {
  const port = (a: string | undefined) => a?.slice(a.lastIndexOf(':') + 1) ?? '0';
  return code
    .replace(/\b7400\b/g, port(sc.addresses.tcp))
    .replace(/\b7401\b/g, port(sc.addresses.udp))
    .replace(/\b7480\b/g, port(sc.addresses.http));
}

/**
 * Runs a snippet as a user would, outside the repository: TypeScript saved as `.mts` (ESM
 * whatever package.json is near; a `.ts` file outside a "type": "module" package fails on
 * top-level await) with `./` imports pointing at this checkout; shell with bash.
 */
function runner(snippet: Snippet, sc: Sidecar, dir: string): Context['run'] {
  return (untilOut) => {
    const code = withPorts(snippet.code, sc);
    let cmd: string;
    let args: string[];
    if (snippet.lang === 'ts') {
      const file = join(dir, `${snippet.name}.mts`);
      writeFileSync(file, code.replace(/from '\.\//g, `from '${ROOT}/`));
      cmd = process.execPath;
      args = ['--import', import.meta.resolve('tsx'), file];
    } else if (snippet.lang === 'sh') {
      cmd = 'bash';
      args = ['-e', '-o', 'pipefail', '-c', code];
    } else {
      throw new Error(`${snippet.at}: no way to run a \`${snippet.lang}\` block`);
    }
    return new Promise((resolve) => {
      // Its own process group: a stuck curl under bash is stopped with it.
      const child = spawn(cmd, args, {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const stop = (signal: NodeJS.Signals) => {
        try {
          process.kill(-(child.pid as number), signal);
        } catch {}
      };
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stderr += `\n(stopped after ${RUN_MS} ms)`;
        stop('SIGKILL');
      }, RUN_MS);
      child.stdout.on('data', (d) => {
        stdout += d;
        if (untilOut?.test(stdout)) stop('SIGTERM');
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  };
}

const { snippets, problems } = collect();

test('every marker names a known snippet and is followed by a code block', () => {
  const unknown = snippets
    .filter((s) => !(s.name in CHECKS))
    .map((s) => `${s.at}: unknown snippet ${s.name}`);
  assert.equal([...problems, ...unknown], []);
});

test('every known snippet is marked somewhere (none was dropped from the docs)', () => {
  const found = new Set(snippets.map((s) => s.name));
  assert.equal(
    Object.keys(CHECKS).filter((n) => !found.has(n)),
    [],
  );
});

for (const snippet of snippets) {
  const check = CHECKS[snippet.name];
  if (!check) continue;
  test(`snippet ${snippet.name} (${snippet.at}) runs and does what it says`, async () => {
    const sc = await startTestSidecar();
    const dir = mkdtempSync(join(tmpdir(), 'groupcast-snippet-'));
    try {
      await check(snippet, { sc, run: runner(snippet, sc, dir) });
    } finally {
      await sc.close();
      await sleep(10);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
