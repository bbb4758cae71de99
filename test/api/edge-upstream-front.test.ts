/**
 * The edge worker's upstream event stream reaches the sidecar's raw HTTP front, not node:http.
 * Before a stream the edge reads the group's position with a JSON call (`GET .../messages`),
 * which the front lends to node:http; Deno's fetch then sends the stream on the same kept-alive
 * connection, which is the front's again after the call (api/front-loan.ts). Before the lend, a
 * connection handed over stayed node:http's, and the stream cost the sidecar node:http's
 * per-write work for as long as it lasted. The sidecar runs in this process (node:http's
 * diagnostics channel lists what it handled); the edge is a real Deno process. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Sidecar } from '../../sidecar/server.ts';
import { startEdgeProcess } from '../helpers/edge.ts';
import type { Started } from '../helpers/process.ts';
import { countNodeRequests } from '../helpers/raw-http.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';

let sidecar: Sidecar;
let edge: Started;
const node = countNodeRequests(test);

test.before(async () => {
  sidecar = await startTestSidecar();
  edge = await startEdgeProcess(sidecar.addresses.http as string);
});

test.after(async () => {
  await edge?.stop();
  await sidecar?.close();
});

test('the edge reads history through node:http and streams through the front, in turn and again', async () => {
  for (let round = 1; round <= 2; round++) {
    const group = `upstream-front-${round}`;
    const before = node.urls.length;
    const sub = await SseClient.open(`http://${edge.addresses.http}/groups/${group}/events`);
    try {
      assert.is(sub.response.status, 200);
      await waitFor(() => sidecar.hub.localGroup(group)?.counts.sse === 1, 5000, 'upstream');
      const r = await fetch(`http://${edge.addresses.http}/groups/${group}/messages`, {
        method: 'POST',
        body: `round ${round}`,
      });
      assert.is(r.status, 202);
      const [m] = await sub.waitForMessages(1);
      assert.is(m.data, `round ${round}`);
      const seen = node.urls.slice(before);
      // The JSON call came first (lent to node:http) ...
      assert.ok(
        seen.some((u) => u.startsWith(`/groups/${group}/messages?`)),
        `node:http handled ${JSON.stringify(seen)}`,
      );
      // ... and the stream was still the front's.
      assert.not.ok(
        seen.some((u) => u.startsWith(`/groups/${group}/events`)),
        `node:http handled ${JSON.stringify(seen)}`,
      );
    } finally {
      sub.close();
    }
  }
});

test.run();
