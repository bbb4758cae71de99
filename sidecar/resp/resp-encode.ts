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

/**
 * A batch as pushes: one `[kind, (pattern,) channel, payload]` per message, the payload's exact
 * bytes. Written into one buffer, so the socket gets one write per batch and a message costs no
 * allocation of its own.
 */
export function messagePushes(
  batch: Batch,
  kind: 'message' | 'smessage' | 'pmessage',
  channel: Uint8Array,
  pattern: Uint8Array | null,
  proto: Proto,
): Buffer {
  // Everything before the payload's length is the same for every message.
  const head = headOf(kind, channel, pattern, proto);
  const bounds = batch.bounds;
  const count = batch.count;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const n = bounds[2 * i + 1] - bounds[2 * i];
    total += head.byteLength + digits(n) + 3 + n + 2;
  }
  const out = Buffer.allocUnsafe(total);
  const wire = batch.wire;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const from = bounds[2 * i];
    const n = bounds[2 * i + 1] - from;
    out.set(head, at);
    at += head.byteLength;
    out[at++] = 0x24; // $
    at = writeDigits(out, at, n);
    out[at++] = 0x0d;
    out[at++] = 0x0a;
    // Copied from the batch's buffer without a view of each payload (no allocation per message).
    copyWithin(wire, from, n, out, at);
    at += n;
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  return out;
}

/** `n` bytes of `src` from `from` into `dst` at `at`. */
function copyWithin(src: Uint8Array, from: number, n: number, dst: Buffer, at: number): void {
  if (n < 32) {
    for (let k = 0; k < n; k++) dst[at + k] = src[from + k];
    return;
  }
  if (Buffer.isBuffer(src)) src.copy(dst, at, from, from + n);
  else dst.set(src.subarray(from, from + n), at);
}

/** Writes `n` (non-negative) in decimal at `at`; returns where it ends. */
function writeDigits(out: Buffer, at: number, n: number): number {
  const end = at + digits(n);
  let i = end;
  do {
    out[--i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}

/**
 * The bytes before each payload's length, kept as long as the group's name bytes (and, for
 * `pmessage`, the pattern's) are: a batch costs no encoding of them. Slots: kind x protocol.
 */
const heads = new WeakMap<Uint8Array, (Buffer | undefined)[]>();
const patternHeads = new WeakMap<Uint8Array, WeakMap<Uint8Array, (Buffer | undefined)[]>>();
const KIND_SLOT = { message: 0, smessage: 2, pmessage: 4 } as const;

function headOf(
  kind: 'message' | 'smessage' | 'pmessage',
  channel: Uint8Array,
  pattern: Uint8Array | null,
  proto: Proto,
): Buffer {
  let slots: (Buffer | undefined)[] | undefined;
  if (pattern) {
    let byChannel = patternHeads.get(pattern);
    if (!byChannel) {
      byChannel = new WeakMap();
      patternHeads.set(pattern, byChannel);
    }
    slots = byChannel.get(channel);
    if (!slots) {
      slots = [];
      byChannel.set(channel, slots);
    }
  } else {
    slots = heads.get(channel);
    if (!slots) {
      slots = [];
      heads.set(channel, slots);
    }
  }
  const slot = KIND_SLOT[kind] + proto - 2;
  let head = slots[slot];
  if (!head) {
    const parts: Uint8Array[] = [
      Buffer.from(
        `${proto === 3 ? '>' : '*'}${pattern ? 4 : 3}${CRLF}$${kind.length}${CRLF}${kind}${CRLF}`,
      ),
    ];
    if (pattern) parts.push(Buffer.from(`$${pattern.byteLength}${CRLF}`), pattern, CRLF_BYTES);
    parts.push(Buffer.from(`$${channel.byteLength}${CRLF}`), channel, CRLF_BYTES);
    head = Buffer.concat(parts);
    slots[slot] = head;
  }
  return head;
}

/** Decimal digits of a non-negative integer. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
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
