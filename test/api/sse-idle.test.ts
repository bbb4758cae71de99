// What an idle SSE stream keeps alive on Node (issue 18, smaller members): the request's objects
// go once the stream is open. Counted in this process's heap (in-process sidecar) with the
// inspector's queryObjects, after a full collection.
import { Session } from 'node:inspector/promises';
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/common.ts';
import { SidecarRig } from '../helpers/rig.ts';
import { hostPort } from '../helpers/sidecar.ts';

const rig = new SidecarRig(test);
const STREAMS = 40;

/** Live instances of the class a global expression names (e.g. `Request`), after a full GC. */
async function liveInstances(expression: string): Promise<number> {
  const s = new Session();
  s.connect();
  try {
    await s.post('HeapProfiler.collectGarbage');
    const { result: proto } = await s.post('Runtime.evaluate', {
      expression: `${expression}.prototype`,
    });
    const { objects } = await s.post('Runtime.queryObjects', {
      prototypeObjectId: proto.objectId as string,
    });
    const { result } = await s.post('Runtime.callFunctionOn', {
      objectId: objects.objectId as string,
      functionDeclaration: 'function () { return this.length; }',
      returnByValue: true,
    });
    return result.value as number;
  } finally {
    s.disconnect();
  }
}

/** Opens an SSE stream on a raw socket (no client-side Request objects in this heap). */
function openStream(group: string): Socket {
  const { host, port } = hostPort(rig.sc.addresses.http as string);
  const socket = connect(port, host);
  socket.on('error', () => {});
  socket.write(`GET /groups/${group}/events HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  return socket;
}

test('idle SSE streams keep no Request of theirs alive (the adapter holds one per stream)', async () => {
  // The adapter makes its Request class global when it serves; count that class.
  const before = await liveInstances('Request');
  const sockets = Array.from({ length: STREAMS }, (_, i) => openStream(`idle-${i % 4}`));
  try {
    await waitFor(() => rig.sc.hub.connections.sse === STREAMS);
    const held = (await liveInstances('Request')) - before;
    assert.ok(held < STREAMS / 4, `${held} Requests kept for ${STREAMS} open streams`);
  } finally {
    for (const s of sockets) s.destroy();
  }
  await waitFor(() => rig.sc.hub.connections.sse === 0);
});

test.run();
