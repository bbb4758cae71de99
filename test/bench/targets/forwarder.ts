/**
 * The runtime's ceiling: the plainest Node TCP group forwarder that still frames whole lines.
 * A client joins with `SOCKETFORWARDER-NEW:<group>\n`; each read's complete lines go to every
 * other member with one write per member per read. No limits, no ids, no history, no metrics:
 * what groupcast costs beyond this is the price of its features. Run: node --import tsx forwarder.ts
 */
import { createServer, type Socket } from 'node:net';

const PREFIX = 'SOCKETFORWARDER-NEW:';
const groups = new Map<string, Set<Socket>>();

const server = createServer({ noDelay: true }, (socket) => {
  let members: Set<Socket> | undefined;
  let held: Buffer | undefined;
  socket.on('error', () => {});
  socket.on('close', () => members?.delete(socket));
  socket.on('data', (chunk: Buffer) => {
    let buf = held ? Buffer.concat([held, chunk]) : chunk;
    held = undefined;
    if (!members) {
      const lf = buf.indexOf(10);
      if (lf < 0) {
        held = buf;
        return;
      }
      const name = buf.toString('latin1', PREFIX.length, lf).trim();
      members = groups.get(name) ?? new Set();
      groups.set(name, members);
      members.add(socket);
      buf = buf.subarray(lf + 1);
    }
    const end = buf.lastIndexOf(10) + 1;
    if (end < buf.length) held = Buffer.from(buf.subarray(end));
    if (end === 0) return;
    const out = buf.subarray(0, end);
    for (const m of members) if (m !== socket) m.write(out);
  });
});

const port = Number(process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  const address = a && typeof a === 'object' ? `127.0.0.1:${a.port}` : '';
  console.log(JSON.stringify({ transport: 'tcp', address, msg: `tcp listening on ${address}` }));
});
