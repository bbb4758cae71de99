import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SidecarRig } from '../helpers/rig.ts';
import { sleep, waitFor } from '../helpers/sidecar.ts';
import { TcpPeer } from '../helpers/tcp.ts';

const rig = new SidecarRig(test, { fresh: true });

test('fans out to every other member and never echoes to the sender', async () => {
  const [a, b, c] = await rig.members('lobby', 3);
  const [other] = await rig.members('elsewhere', 1);
  a.write('from-a\n');
  await b.waitForText('from-a\n');
  await c.waitForText('from-a\n');
  b.write('from-b\n');
  await a.waitForText('from-b\n');
  await c.waitForText('from-a\nfrom-b\n');
  await sleep(50);
  assert.is(a.text, 'from-b\n', 'a got only b');
  assert.is(b.text, 'from-a\n', 'b got only a');
  assert.is(other.received, 0, 'other groups get nothing');
});

test('data after the join line in the same write is the first message, not part of the id', async () => {
  const [b] = await rig.members('g1', 1);
  const a = await rig.connect();
  a.write('SOCKETFORWARDER-NEW:g1\nfirst\nsecond\n');
  await b.waitForText('first\nsecond\n');
  assert.is(rig.sc.hub.findGroup('g1')?.counts.tcp, 2);
});

test('a CRLF join line joins the group without the CR', async () => {
  const [b] = await rig.members('crlf', 1);
  const a = await rig.connect();
  a.write('SOCKETFORWARDER-NEW:crlf\r\n');
  await waitFor(() => rig.sc.hub.findGroup('crlf')?.counts.tcp === 2);
  a.write('x\n');
  await b.waitForText('x\n');
  assert.is(rig.sc.hub.findGroup('crlf\r'), undefined);
});

test('a SocketForwarder-style join (no newline, then a pause) joins the group', async () => {
  const [b] = await rig.members('legacy', 1);
  const a = await rig.connect();
  a.write('SOCKETFORWARDER-NEW:legacy');
  await waitFor(() => rig.sc.hub.findGroup('legacy')?.counts.tcp === 2, 2000, 'legacy join');
  a.write('hi\n');
  await b.waitForText('hi\n');
});

for (const [name, line, errCode] of [
  ['no prefix', 'HELLO:lobby\n', 'BAD_JOIN'],
  ['a group id with a space', 'SOCKETFORWARDER-NEW:two words\n', 'INVALID_GROUP_ID'],
  ['an empty group id', 'SOCKETFORWARDER-NEW:\n', 'INVALID_GROUP_ID'],
  ['a group id over 200 bytes', `SOCKETFORWARDER-NEW:${'g'.repeat(201)}\n`, 'INVALID_GROUP_ID'],
  ['a group id with a control character', 'SOCKETFORWARDER-NEW:a\u0007b\n', 'INVALID_GROUP_ID'],
  ['a join line that never ends', `SOCKETFORWARDER-NEW:${'g'.repeat(1000)}`, 'BAD_JOIN'],
] as const) {
  test(`rejects ${name} with one ERROR ${errCode} line, then closes; others are unaffected`, async () => {
    const [a, b] = await rig.members('calm', 2);
    const before = await rig.metric('groupcast_rejected_total', { reason: errCode });
    const bad = await rig.connect();
    bad.write(line);
    await bad.waitClosed();
    assert.match(bad.text, new RegExp(`^ERROR ${errCode} [^\\n]+\\n$`));
    a.write('still-fine\n');
    await b.waitForText('still-fine\n');
    assert.is(rig.sc.hub.stats.rejected.get(errCode), 1);
    assert.is(await rig.metric('groupcast_rejected_total', { reason: errCode }), before + 1);
  });
}

test('a member shows its peer address and join time in listings and in its leave event after its socket closed', async () => {
  const t0 = Date.now();
  const a = await rig.tcp('whois');
  const t1 = Date.now();
  const remote = `127.0.0.1:${a.socket.localPort}`;
  const [m] = rig.sc.hub.localGroup('whois')?.members ?? [];
  assert.is(m?.remote, remote);
  const at = Date.parse(m?.joinedAt ?? '');
  assert.ok(at >= t0 && at <= t1, `joined at ${m?.joinedAt}, connected between ${t0} and ${t1}`);
  const events: { type: string; remote: string }[] = [];
  rig.sc.hub.presence.on('whois', (e) => events.push(e));
  a.close();
  await waitFor(() => events.some((e) => e.type === 'leave'), 2000, 'the leave event');
  assert.is(events.find((e) => e.type === 'leave')?.remote, remote);
});

test('rejects a connection that sends nothing within the join timeout', async () => {
  await rig.restart({ joinTimeoutMs: 150 });
  const timeout = { reason: 'JOIN_TIMEOUT' };
  const before = await rig.metric('groupcast_rejected_total', timeout);
  const silent = await rig.connect();
  await silent.waitClosed(3000);
  assert.match(silent.text, /^ERROR JOIN_TIMEOUT /);
  assert.is(await rig.metric('groupcast_rejected_total', timeout), before + 1);
  assert.is(rig.sc.hub.connections.tcp, 0);
});

test('a message over the limit gets the sender an ERROR line and a close; the group goes on', async () => {
  await rig.restart({ maxMessageBytes: 1024 });
  const tooLarge = { reason: 'MESSAGE_TOO_LARGE' };
  const before = await rig.metric('groupcast_rejected_total', tooLarge);
  const [a, b, c] = await rig.members('big', 3);
  a.write(`${'x'.repeat(2000)}\n`);
  await a.waitClosed();
  assert.match(a.text, /^ERROR MESSAGE_TOO_LARGE /);
  assert.is(await rig.metric('groupcast_rejected_total', tooLarge), before + 1);
  b.write('after\n');
  await c.waitForText('after\n');
  assert.is(c.text, 'after\n', 'no part of the oversized message was forwarded');
  await waitFor(() => rig.sc.hub.findGroup('big')?.counts.tcp === 2);
});

for (const framing of ['line', 'raw', 'length'] as const) {
  test(`${framing} framing: receivers get exactly the bytes senders wrote, whatever the chunking`, async () => {
    await rig.restart({ tcpFraming: framing });
    const [a, b, r] = await rig.members(`bytes-${framing}`, 3);
    const streams = [a, b].map((p, who) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        const payload = Buffer.from(`${who}:${i}:${'z'.repeat((i * 7) % 50)}`);
        if (framing === 'line')
          parts.push(Buffer.concat([payload, Buffer.from(i % 3 ? '\n' : '\r\n')]));
        else if (framing === 'length') {
          const h = Buffer.alloc(4);
          h.writeUInt32BE(payload.length + 1);
          parts.push(h, payload, Buffer.from([i % 256]));
        } else parts.push(payload);
      }
      return { peer: p, bytes: Buffer.concat(parts) };
    });
    // Random write sizes, interleaved between the two senders.
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const offsets = [0, 0];
    while (offsets.some((o, i) => o < streams[i].bytes.length)) {
      for (let i = 0; i < 2; i++) {
        const s = streams[i];
        if (offsets[i] >= s.bytes.length) continue;
        const n = 1 + Math.floor(rand() * 300);
        s.peer.write(s.bytes.subarray(offsets[i], offsets[i] + n));
        offsets[i] += n;
      }
      if (rand() < 0.2) await sleep(1);
    }
    const total = streams[0].bytes.length + streams[1].bytes.length;
    const got = await r.waitForBytes(total);
    assert.is(got.length, total);
    if (framing === 'raw') {
      // Raw reads are messages: reads of two senders interleave, but each sender's bytes keep their order.
      const sorted = (buf: Buffer) => [...buf].sort().join();
      assert.is(sorted(got), sorted(Buffer.concat(streams.map((s) => s.bytes))));
      return;
    }
    // Each sender's stream must appear whole and in order once the other sender's messages are removed.
    for (let who = 0; who < 2; who++) {
      const mine = extract(got, framing, who);
      assert.ok(mine.equals(streams[who].bytes), `sender ${who} bytes exact`);
    }
    assert.ok(a.data.equals(streams[1].bytes), 'a got exactly b');
    assert.ok(b.data.equals(streams[0].bytes), 'b got exactly a');
  });
}

/** Picks one sender's framed messages out of an interleaved stream (payloads start with `<who>:`). */
function extract(buf: Buffer, framing: 'line' | 'length', who: number): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    let end: number;
    let payloadStart: number;
    if (framing === 'line') {
      end = buf.indexOf(10, at) + 1;
      payloadStart = at;
    } else {
      end = at + 4 + buf.readUInt32BE(at);
      payloadStart = at + 4;
    }
    if (buf[payloadStart] === 48 + who) out.push(buf.subarray(at, end));
    at = end;
  }
  return Buffer.concat(out);
}

test('10,000 messages arrive complete and in order', async () => {
  const [a, b] = await rig.members('order', 2);
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) lines.push(`m${i}\n`);
  const expected = lines.join('');
  for (let i = 0; i < lines.length; i += 250) a.write(lines.slice(i, i + 250).join(''));
  await b.waitForBytes(expected.length, 10_000);
  assert.is(b.text, expected);
});

test('a member that stops reading is cut at its limit while a fast one receives everything', async () => {
  await rig.restart({ maxPendingBytes: 256 * 1024 });
  const cutTcp = { transport: 'tcp' };
  const before = await rig.metric('groupcast_slow_consumer_disconnects_total', cutTcp);
  const [sender, fast, slow] = await rig.members('slow', 3);
  slow.socket.pause();
  const line = `${'p'.repeat(1000)}\n`;
  const count = 20_000; // ~20 MB: far past what the slow member's socket buffers can absorb
  let sent = 0;
  // Paced so the fast reader, in this same process, keeps up; the slow one never reads.
  while (sent < count) {
    const n = Math.min(50, count - sent);
    const ok = sender.socket.write(line.repeat(n));
    sent += n;
    if (!ok) await new Promise((r) => sender.socket.once('drain', r));
    await waitFor(() => fast.received >= (sent - 200) * line.length, 5000, 'fast reader');
  }
  await fast.waitForBytes(count * line.length, 20_000);
  assert.is(fast.received, count * line.length);
  await waitFor(() => rig.sc.hub.stats.slowConsumers.tcp === 1, 5000, 'slow consumer counted');
  await waitFor(() => rig.sc.hub.findGroup('slow')?.counts.tcp === 2, 5000, 'slow member removed');
  slow.socket.resume();
  await slow.waitClosed();
  assert.is(await rig.metric('groupcast_slow_consumer_disconnects_total', cutTcp), before + 1);
  assert.is(await rig.metric('groupcast_slow_consumer_disconnects_total', { transport: 'sse' }), 0);
});

test('100,000 join/leave cycles leave no members, connections or groups behind', async () => {
  await rig.restart({ groupTtlMs: 200 });
  const cycles = 100_000;
  const concurrency = 100;
  let next = 0;
  const worker = async () => {
    while (next < cycles) {
      const i = next++;
      const p = await TcpPeer.open(rig.sc.addresses.tcp as string, `churn-${i}`);
      if (i % 10 === 0) p.write('bye\n');
      p.socket.end();
      await p.waitClosed();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await waitFor(() => rig.sc.hub.connections.tcp === 0, 5000, 'connections to drain');
  assert.is([...rig.sc.hub.allGroups()].filter((g) => g.size > 0).length, 0, 'no members');
  assert.ok(
    rig.sc.hub.groupCount <= rig.sc.hub.options.maxGroups,
    'idle groups bounded by maxGroups',
  );
  await waitFor(() => rig.sc.hub.groupCount === 0, 5000, 'idle groups to expire');
  assert.is(rig.sc.hub.stats.rejected.size, 0, 'no join was refused');
});

test('groups idle for replay give way to new groups at maxGroups; groups with members do not', async () => {
  await rig.restart({ maxGroups: 3 });
  const [keep] = await rig.members('kept', 1);
  for (let i = 0; i < 5; i++) {
    const p = await rig.connect(`idle-${i}`);
    p.write('x\n');
    await waitFor(() => rig.sc.hub.findGroup(`idle-${i}`)?.seq === 1);
    p.close();
    await waitFor(() => rig.sc.hub.findGroup(`idle-${i}`)?.size === 0);
  }
  assert.is(rig.sc.hub.groupCount, 3);
  assert.ok(rig.sc.hub.findGroup('kept'));
  assert.ok(rig.sc.hub.findGroup('idle-4'), 'the newest idle group is kept');
  assert.is(rig.sc.hub.findGroup('idle-0'), undefined, 'the oldest idle group gave way');
  const [a, b] = await Promise.all([rig.connect('full-1'), rig.connect('full-2')]);
  await waitFor(
    () => rig.sc.hub.findGroup('full-2')?.size === 1 && rig.sc.hub.findGroup('full-1')?.size === 1,
  );
  const c = await rig.connect('full-3');
  await c.waitClosed();
  assert.match(c.text, /^ERROR TOO_MANY_GROUPS /);
  keep.close();
  a.close();
  b.close();
});

test('join/leave without messages deletes the group at once', async () => {
  const [a] = await rig.members('ephemeral', 1);
  a.close();
  await waitFor(() => rig.sc.hub.findGroup('ephemeral') === undefined, 2000, 'group deleted');
});

test('the connection limit answers ERROR TOO_MANY_CONNECTIONS', async () => {
  await rig.restart({ maxConnections: 2 });
  await rig.members('full', 2);
  const third = await rig.connect();
  await third.waitClosed();
  assert.match(third.text, /^ERROR TOO_MANY_CONNECTIONS /);
});

test('the member limit of a group answers ERROR GROUP_FULL', async () => {
  await rig.restart({ maxMembersPerGroup: 2 });
  await rig.members('small', 2);
  const third = await rig.connect('small');
  await third.waitClosed();
  assert.match(third.text, /^ERROR GROUP_FULL /);
  const elsewhere = await rig.members('other', 1);
  assert.is(elsewhere.length, 1);
});

test('a preconfigured address joins its group without a join line', async () => {
  // Reserve a source port by binding it, then connect from it.
  const { createServer, connect } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  await rig.restart({ tcpPreconfig: [{ group: 'pre', host: '127.0.0.1', port }] });
  const [b] = await rig.members('pre', 1);
  const { host, port: serverPort } = {
    host: '127.0.0.1',
    port: Number((rig.sc.addresses.tcp as string).split(':')[1]),
  };
  const s = connect({ host, port: serverPort, localAddress: '127.0.0.1', localPort: port });
  await new Promise((r) => s.once('connect', r));
  await waitFor(() => rig.sc.hub.findGroup('pre')?.counts.tcp === 2, 2000, 'preconfigured join');
  s.write('no-handshake\n');
  await b.waitForText('no-handshake\n');
  s.destroy();
});

test.run();
