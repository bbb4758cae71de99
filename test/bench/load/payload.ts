/**
 * The test message: `~` + publisher (4 digits) + seq (10 digits) + intended send time in µs since
 * the job's start (12 digits), padded with `x` to the payload size. Printable ASCII with no
 * newline, so every framing (lines, RESP, NATS, SSE data, datagrams) carries it unchanged; `~`
 * appears nowhere else on any of those wires. Seq 0 is a readiness probe, not counted.
 */
export const MARK = 0x7e;
const PUB_AT = 1;
const SEQ_AT = 5;
const TIME_AT = 15;
export const HEADER_BYTES = 27;

export function template(size: number): Buffer {
  if (size < HEADER_BYTES) throw new Error(`payload must be at least ${HEADER_BYTES} bytes`);
  const b = Buffer.alloc(size, 'x');
  b[0] = MARK;
  return b;
}

function writeDigits(buf: Buffer, at: number, width: number, value: number): void {
  let v = value;
  for (let i = at + width - 1; i >= at; i--) {
    const q = Math.floor(v / 10);
    buf[i] = 48 + v - q * 10;
    v = q;
  }
}

function readDigits(buf: Buffer, at: number, width: number): number {
  let v = 0;
  for (let i = at; i < at + width; i++) v = v * 10 + (buf[i] - 48);
  return v;
}

/** Writes the header fields of a payload that starts at `at` (the mark is already there). */
export function stamp(buf: Buffer, at: number, pub: number, seq: number, timeUs: number): void {
  writeDigits(buf, at + PUB_AT, 4, pub);
  writeDigits(buf, at + SEQ_AT, 10, seq);
  writeDigits(buf, at + TIME_AT, 12, Math.max(0, Math.round(timeUs)));
}

/** Faster stamp for throughput runs: only seq changes between records of one burst. */
export function stampSeq(buf: Buffer, at: number, seq: number): void {
  writeDigits(buf, at + SEQ_AT, 10, seq);
}

export const readPub = (buf: Buffer, at: number) => readDigits(buf, at + PUB_AT, 4);
export const readSeq = (buf: Buffer, at: number) => readDigits(buf, at + SEQ_AT, 10);
export const readTime = (buf: Buffer, at: number) => readDigits(buf, at + TIME_AT, 12);
