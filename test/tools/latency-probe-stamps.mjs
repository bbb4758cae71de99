/**
 * Preloaded into the server under probe (`node --import <this> ...`; plain JS, so the server
 * runs without a TypeScript loader and its heap and GC are its own): stamps on the
 * probe's clock (hrtime since PROBE_ORIGIN, µs) every GC, every read and every write handed to
 * the kernel (with the send times of the payloads in it), and the main thread's run and
 * run-queue time at each read and first write after it. Written to PROBE_OUT* at exit.
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const out = process.env.PROBE_OUT ?? '/dev/null';
const origin = BigInt(process.env.PROBE_ORIGIN ?? '0');
const hrUs = () => Number(process.hrtime.bigint() - origin) / 1000;

// performance.now() mapped onto hrtime by the tightest of many paired reads.
let offset = 0;
let best = Number.POSITIVE_INFINITY;
function calibrate() {
  for (let i = 0; i < 200; i++) {
    const a = hrUs();
    const p = performance.now() * 1000;
    const b = hrUs();
    if (b - a < best) {
      best = b - a;
      offset = (a + b) / 2 - p;
    }
  }
}
calibrate();
setTimeout(calibrate, 200).unref();

/** @type {{ kind: number; t: number; d: number }[]} */
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = /** @type {{ detail?: { kind?: number } }} */ (e).detail?.kind ?? 0;
    gcs.push({ kind, t: e.startTime * 1000 + offset, d: e.duration * 1000 });
  }
}).observe({ entryTypes: ['gc'] });

/** (kind 0 read / 1 write, payload send time, when) triples. */
const io = new Float64Array(3 * 4_000_000);
let ioN = 0;
/** (kind, when, main thread run µs, main thread run-queue wait µs) at a read and the next write. */
/** @type {number[]} */
const sched = [];
const statFd = openSync('/proc/thread-self/schedstat', 'r');
const statBuf = Buffer.alloc(128);
/** @param {number} kind */
function mark(kind) {
  if (sched.length > 400_000) return;
  const n = readSync(statFd, statBuf, 0, statBuf.length, 0);
  const [run, wait] = statBuf.toString('latin1', 0, n).split(' ').map(Number);
  sched.push(kind, hrUs(), run / 1000, wait / 1000);
}

/** Send times of the bench payloads (`~` + 4 + 10 digits, then 12 digits of µs) in a chunk. */
/**
 * @param {number} kind
 * @param {Uint8Array | undefined} b
 */
function record(kind, b) {
  if (!b || b.length < 27) return;
  const t = hrUs();
  let last = -1;
  for (let at = b.indexOf(0x7e); at >= 0 && at + 27 <= b.length; at = b.indexOf(0x7e, at + 27)) {
    let v = 0;
    for (let i = at + 15; i < at + 27; i++) v = v * 10 + (b[i] - 48);
    if (v !== last && ioN + 3 <= io.length) {
      io[ioN++] = kind;
      io[ioN++] = v;
      io[ioN++] = t;
      last = v;
    }
  }
}

const proto =
  /** @type {{ emit: (...a: unknown[]) => boolean, _writeGeneric: (...a: unknown[]) => unknown }} */ (
    /** @type {unknown} */ (net.Socket.prototype)
  );
const emit = proto.emit;
proto.emit = function (...args) {
  if (args[0] === 'data') {
    record(0, /** @type {Uint8Array} */ (args[1]));
    mark(0);
  }
  return emit.apply(this, args);
};
const writeGeneric = proto._writeGeneric;
proto._writeGeneric = function (...args) {
  const [writev, data] = args;
  if (writev) for (const d of /** @type {{ chunk: Uint8Array }[]} */ (data)) record(1, d.chunk);
  else record(1, /** @type {Uint8Array} */ (data));
  if (sched[sched.length - 4] === 0) mark(1);
  return writeGeneric.apply(this, args);
};

function flush() {
  closeSync(statFd);
  writeFileSync(`${out}.gc.json`, JSON.stringify(gcs));
  writeFileSync(`${out}.sched.json`, JSON.stringify(sched));
  writeFileSync(`${out}.io`, Buffer.from(io.buffer, 0, ioN * 8));
}
process.on('exit', flush);
// A server without a SIGTERM handler (the forwarder) would die without 'exit'.
process.on('SIGTERM', () => process.exit(0));
