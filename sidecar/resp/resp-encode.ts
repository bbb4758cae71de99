import type { Batch } from '../../shared/message.ts';

/**
 * Redis protocol replies. `proto` is the connection's protocol version (2, or 3 after HELLO 3):
 * RESP3 has its own null, map and push types; RESP2 spells them as null bulk and flat arrays.
 */
export type Proto = 2 | 3;

const CRLF = '\r\n';

export const OK = Buffer.from('+OK\r\n');

export function simple(text: string): Buffer {
  return Buffer.from(`+${text}${CRLF}`);
}

/** An error reply; `text` starts with its code (`ERR ...`, `NOAUTH ...`). */
export function error(text: string): Buffer {
  return Buffer.from(`-${text.replace(/[\r\n]/g, ' ')}${CRLF}`);
}

export function integer(n: number): Buffer {
  return Buffer.from(`:${n}${CRLF}`);
}

export function nil(proto: Proto): Buffer {
  return Buffer.from(proto === 3 ? `_${CRLF}` : `$-1${CRLF}`);
}

export function bulk(value: Uint8Array | string): Buffer {
  const body = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([Buffer.from(`$${body.byteLength}${CRLF}`), body, Buffer.from(CRLF)]);
}

export function arrayHeader(n: number): Buffer {
  return Buffer.from(`*${n}${CRLF}`);
}

/** A map of n pairs: `%n` in RESP3, an array of 2n items in RESP2. */
export function mapHeader(n: number, proto: Proto): Buffer {
  return Buffer.from(proto === 3 ? `%${n}${CRLF}` : `*${2 * n}${CRLF}`);
}

/** Out-of-band data (subscription replies, messages): `>n` in RESP3, an array in RESP2. */
export function pushHeader(n: number, proto: Proto): Buffer {
  return Buffer.from(proto === 3 ? `>${n}${CRLF}` : `*${n}${CRLF}`);
}

/** Text that RESP3 sends as a verbatim string (INFO), RESP2 as a bulk. */
export function verbatim(text: string, proto: Proto): Buffer {
  if (proto === 2) return bulk(text);
  const body = Buffer.from(`txt:${text}`);
  return Buffer.concat([Buffer.from(`=${body.byteLength}${CRLF}`), body, Buffer.from(CRLF)]);
}

/** `[kind, channel, count]`: the reply to (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE, one per channel. */
export function subscription(
  kind: string,
  channel: Uint8Array | null,
  count: number,
  proto: Proto,
): Buffer {
  return Buffer.concat([
    pushHeader(3, proto),
    bulk(kind),
    channel === null ? nil(proto) : bulk(channel),
    integer(count),
  ]);
}

/** Bulk string header of a payload of `n` bytes. */
function bulkHead(n: number): string {
  return `$${n}${CRLF}`;
}

/**
 * A batch as pushes: one `[kind, (pattern,) channel, payload]` per message, the payload's exact
 * bytes. Built into one buffer so the socket gets one write per batch.
 */
export function messagePushes(
  batch: Batch,
  kind: 'message' | 'smessage' | 'pmessage',
  channel: Uint8Array,
  pattern: Uint8Array | null,
  proto: Proto,
): Buffer {
  const head = Buffer.from(
    `${proto === 3 ? '>' : '*'}${pattern ? 4 : 3}${CRLF}${bulkHead(kind.length)}${kind}${CRLF}`,
  );
  const patternPart = pattern
    ? Buffer.concat([Buffer.from(bulkHead(pattern.byteLength)), pattern, Buffer.from(CRLF)])
    : null;
  const channelPart = Buffer.concat([
    Buffer.from(bulkHead(channel.byteLength)),
    channel,
    Buffer.from(CRLF),
  ]);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < batch.count; i++) {
    const payload = batch.payload(i);
    parts.push(head);
    if (patternPart) parts.push(patternPart);
    parts.push(channelPart, Buffer.from(bulkHead(payload.byteLength)), payload, CRLF_BYTES);
  }
  return Buffer.concat(parts);
}

const CRLF_BYTES = Buffer.from(CRLF);

/**
 * Every member of a group is handed the same batch in a row: the last `message` encoding is
 * kept, so N plain subscribers of a group cost one encoding, not N.
 */
let lastBatch: Batch | null = null;
let lastChannel: Uint8Array | null = null;
let lastProto: Proto = 2;
let lastKind = '';
let lastBytes: Buffer | null = null;

export function sharedPushes(
  batch: Batch,
  kind: 'message' | 'smessage',
  channel: Uint8Array,
  proto: Proto,
): Buffer {
  if (
    batch === lastBatch &&
    channel === lastChannel &&
    proto === lastProto &&
    kind === lastKind &&
    lastBytes
  )
    return lastBytes;
  lastBytes = messagePushes(batch, kind, channel, null, proto);
  lastBatch = batch;
  lastChannel = channel;
  lastProto = proto;
  lastKind = kind;
  return lastBytes;
}
