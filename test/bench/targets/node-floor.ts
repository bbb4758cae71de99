/**
 * Node's floor for POST -> SSE: the least a Node process can do to serve the bench's HTTP rows
 * (the `node` flavor: POST /pub/<group>, GET /sub/<group>), on `node:net` with no HTTP library.
 * It reads only the request line and Content-Length, checks nothing else, numbers each body as
 * one SSE event, writes each subscriber once per event-loop turn and each poster's answers once
 * per turn. Not a hub anyone should run (no limits, no errors, no history): the ceiling against
 * which groupcast's own per-POST cost is read. Run: PORT=<n> node --import tsx node-floor.ts
 */
import { createServer, type Socket } from 'node:net';

const SSE_HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n',
);
const ANSWER = Buffer.from('HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}');
const NOT_FOUND = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
const CL = /\r\ncontent-length: *(\d+)/i;
const NDJSON = /\r\ncontent-type: *application\/x-ndjson/i;

interface Group {
  members: Set<Socket>;
  pending: Buffer[];
}

const groups = new Map<string, Group>();
const due = new Set<Group>();
const answers = new Map<Socket, number>();
let seq = 0;
let scheduled = false;

function group(name: string): Group {
  let g = groups.get(name);
  if (!g) {
    g = { members: new Set(), pending: [] };
    groups.set(name, g);
  }
  return g;
}

function flush(): void {
  scheduled = false;
  for (const g of due) {
    const frame = g.pending.length === 1 ? g.pending[0] : Buffer.concat(g.pending);
    g.pending = [];
    for (const m of g.members) m.write(frame);
  }
  due.clear();
  for (const [socket, n] of answers)
    socket.write(n === 1 ? ANSWER : Buffer.concat(Array(n).fill(ANSWER)));
  answers.clear();
}

function later(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

function publish(name: string, body: Buffer, ndjson: boolean): void {
  const g = group(name);
  if (g.members.size === 0) return;
  let text = '';
  for (const line of ndjson ? body.toString('latin1').split('\n') : [body.toString('latin1')])
    if (line) text += `id: ${++seq}\nevent: message\ndata: ${line}\n\n`;
  g.pending.push(Buffer.from(text, 'latin1'));
  due.add(g);
}

createServer((socket) => {
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const [method, path] = head.slice(0, head.indexOf('\r\n')).split(' ');
      const [, kind, name] = path.split('/');
      if (method === 'GET' && kind === 'sub' && name) {
        buf = Buffer.alloc(0);
        socket.write(SSE_HEAD);
        const g = group(name);
        g.members.add(socket);
        socket.on('close', () => g.members.delete(socket));
        return;
      }
      const length = Number(CL.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      if (method === 'POST' && kind === 'pub' && name) {
        publish(name, buf.subarray(end + 4, end + 4 + length), NDJSON.test(head));
        answers.set(socket, (answers.get(socket) ?? 0) + 1);
      } else socket.write(NOT_FOUND);
      buf = buf.subarray(end + 4 + length);
      later();
    }
  });
}).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
