/**
 * The UDP ceiling: `SOCKETFORWARDER-NEW:<port>` registers the sender's IP with that port; every
 * other datagram is sent to every registered address but its sender's.
 * Run: PORT=<n> node --import tsx udp-forwarder.ts
 */
import { createSocket } from 'node:dgram';

const PREFIX = Buffer.from('SOCKETFORWARDER-NEW:');
const peers = new Map<string, { ip: string; port: number }>();
const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });

socket.on('message', (msg, from) => {
  if (msg.length >= PREFIX.length && PREFIX.equals(msg.subarray(0, PREFIX.length))) {
    const port = Number(msg.toString('latin1', PREFIX.length).trim());
    if (port > 0 && port < 65536) peers.set(`${from.address}:${port}`, { ip: from.address, port });
    return;
  }
  const self = `${from.address}:${from.port}`;
  for (const [key, p] of peers) if (key !== self) socket.send(msg, p.port, p.ip);
});

socket.bind(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = `127.0.0.1:${socket.address().port}`;
  console.log(JSON.stringify({ transport: 'udp', address, msg: `udp listening on ${address}` }));
});
