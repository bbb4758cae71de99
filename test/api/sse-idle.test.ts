// What an idle SSE stream keeps alive on Node (issue 18, smaller members): the request's objects
// go once the stream is open, and a stream the raw front serves (the default) holds none of
// node:http's per-request objects at all. Counted in this process's heap (in-process sidecar)
// with the inspector's queryObjects, after a full collection.
import { IncomingMessage, ServerResponse } from 'node:http';
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

// The inspector evaluates in the global scope: the classes to count are put there.
const globals = globalThis as { IncomingMessage?: unknown; ServerResponse?: unknown };
globals.IncomingMessage = IncomingMessage;
globals.ServerResponse = ServerResponse;

/** Live IncomingMessage and ServerResponse objects while STREAMS streams are open. */
async function heldHttpObjects(): Promise<[number, number]> {
  const before = [await liveInstances('IncomingMessage'), await liveInstances('ServerResponse')];
  const sockets = Array.from({ length: STREAMS }, (_, i) => openStream(`front-${i % 4}`));
  try {
    await waitFor(() => rig.sc.hub.connections.sse === STREAMS);
    return [
      (await liveInstances('IncomingMessage')) - before[0],
      (await liveInstances('ServerResponse')) - before[1],
    ];
  } finally {
    for (const s of sockets) s.destroy();
    await waitFor(() => rig.sc.hub.connections.sse === 0);
  }
}

test('idle SSE streams on the raw front keep no IncomingMessage or ServerResponse alive', async () => {
  const [requests, responses] = await heldHttpObjects();
  assert.ok(requests < STREAMS / 4, `${requests} IncomingMessages for ${STREAMS} streams`);
  assert.ok(responses < STREAMS / 4, `${responses} ServerResponses for ${STREAMS} streams`);
});

test('with the front off, node:http holds both for each stream (what the front saves)', async () => {
  await rig.restart({ httpFront: false });
  const [requests, responses] = await heldHttpObjects();
  assert.ok(requests >= STREAMS, `${requests} IncomingMessages for ${STREAMS} streams`);
  assert.ok(responses >= STREAMS, `${responses} ServerResponses for ${STREAMS} streams`);
});

test.run();
