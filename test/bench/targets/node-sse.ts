/**
 * The bare node:http SSE baseline: POST /pub/<group> (one message, or one per line with
 * Content-Type application/x-ndjson) is framed once and written to each subscriber of
 * GET /sub/<group> with one res.write per POST. Run: PORT=<n> node --import tsx node-sse.ts
 */
import { createServer, type ServerResponse } from 'node:http';

const groups = new Map<string, Set<ServerResponse>>();
let seq = 0;

const server = createServer((req, res) => {
  const [, kind, name] = (req.url ?? '').split('/');
  if (req.method === 'GET' && kind === 'sub' && name) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const members = groups.get(name) ?? new Set();
    groups.set(name, members);
    members.add(res);
    res.on('close', () => members.delete(res));
    return;
  }
  if (req.method !== 'POST' || kind !== 'pub' || !name) return void res.writeHead(404).end();
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => {
    const body = Buffer.concat(parts).toString();
    const lines =
      req.headers['content-type'] === 'application/x-ndjson' ? body.split('\n') : [body];
    let text = '';
    for (const line of lines) if (line) text += `id: ${++seq}\nevent: message\ndata: ${line}\n\n`;
    const frame = Buffer.from(text);
    const members = groups.get(name);
    if (members) for (const m of members) m.write(frame);
    res.writeHead(202, { 'Content-Type': 'application/json' });
    res.end(`{"recipients":${members?.size ?? 0}}`);
  });
});
server.keepAliveTimeout = 600_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
