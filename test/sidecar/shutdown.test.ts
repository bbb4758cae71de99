import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/common.ts';
import { startSidecarProcess } from '../helpers/sidecar-process.ts';

test('on SIGTERM an SSE client (curl) gets event: close SHUTTING_DOWN and a cleanly ended stream', async () => {
  const sc = await startSidecarProcess();
  const http = sc.addresses.http;
  try {
    let out = '';
    const curl = spawn('curl', ['-sN', `http://${http}/groups/bye/events`]);
    curl.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => curl.on('exit', (code) => r(code)));
    await waitFor(() => out.includes('retry:'), 5000, 'the stream to open');
    assert.is(await sc.stop('SIGTERM'), 0);
    // curl exits 0 only when the chunked body ended properly (18 when it was cut short).
    assert.is(await exited, 0);
    assert.match(out, /event: close\ndata: \{"code":"SHUTTING_DOWN"/);
  } finally {
    await sc.stop();
  }
});

test.run();
