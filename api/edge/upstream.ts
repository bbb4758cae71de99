import { Backoff } from '../../shared/backoff.ts';
import { concatBytes, textDecoder } from '../../shared/bytes.ts';
import {
  type GroupcastError,
  SlowConsumerError,
  toGroupcastError,
  UpstreamError,
} from '../../shared/errors.ts';
import type { StartPoint, Subscriber } from '../../shared/hub.ts';
import { batchOf, formatId, parseId } from '../../shared/message.ts';
import { encodeBatch, encodeGap, encodePosition, type GapInfo } from '../../shared/sse.ts';
import { BlockKind, type SseBlock, SseBlockSplitter } from '../../shared/sse-blocks.ts';
import { SseFanout, type SseTarget } from '../../shared/sse-fanout.ts';
import { SseParser } from '../../shared/sse-parser.ts';
import { parseIdBytes, SseRun } from '../../shared/sse-run.ts';
import type { EdgeStats } from './edge-stats.ts';
import type { SidecarLink } from './sidecar-link.ts';

export type UpstreamState = 'connecting' | 'open' | 'backoff' | 'closed';

export type EdgeLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

export interface UpstreamConfig {
  sidecar: SidecarLink;
  stats: EdgeStats;
  log: EdgeLog;
  /** An open stream silent this long is dropped and reopened. */
  idleMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** A replay for one subscriber stops at this many bytes (its queue limit). */
  replayLimitBytes: number;
  /** One event of the sidecar's stream may be this large; past it the stream is reopened. */
  maxEventBytes: number;
}

/** The history page size the sidecar allows at most. */
const PAGE = 1000;
/** A replay longer than this many pages is refused; the sidecar's history limit is 10M messages. */
const MAX_REPLAY_PAGES = 10_000;
/** Rounds of "read history, then compare with the live stream" before a subscriber gives up. */
const MAX_CATCH_UP_ROUNDS = 3;
/**
 * Recent batches kept to bridge a new subscriber from the end of its history replay to the live
 * stream: that window lasts one request, so a small bound covers it; past it, history is read
 * again.
 */
const RECENT_MESSAGES = 256;
const RECENT_BYTES = 1024 * 1024;

/** An edge subscriber as its upstream sees it. */
export class EdgeTarget implements SseTarget {
  readonly subscriber: Subscriber;
  slot = -1;
  /** Newest seq sent, within `epoch`. */
  lastSeq = 0;
  /** The sidecar sequence (`<epoch>-` of ids) `lastSeq` belongs to; 0 while none is known. */
  epoch = 0;
  /** The id the subscriber asked to resume after. */
  readonly requested: string | null;
  /** Already told that the sidecar's sequence restarted; no second gap for the same restart. */
  toldReset = false;
  /** Caught up to a newer sidecar sequence than the stream carries yet; joins when it does. */
  parked = false;
  released = false;

  constructor(subscriber: Subscriber, start: StartPoint) {
    this.subscriber = subscriber;
    this.requested = start.kind === 'after' ? start.id : null;
  }

  /** What this subscriber would send as Last-Event-ID now. */
  get position(): string {
    if (this.epoch !== 0) return formatId(this.epoch, this.lastSeq);
    return this.requested ?? '';
  }
}

interface Waiter {
  resolve(): void;
  reject(err: GroupcastError): void;
}

/**
 * One SSE stream from the sidecar for one group, shared by every subscriber of that group on this
 * edge worker. The sidecar's events are passed on as they came: each read is cut into event
 * blocks, only ids and event names are read, and runs of consecutive messages go to SseFanout as
 * slices of the bytes read, fanned out once per turn. When the stream fails it is reopened with
 * backoff and Last-Event-ID, so subscribers lose nothing the sidecar still holds; when the
 * sidecar's sequence restarted (the sidecar did), they get the sidecar's `gap` event, never a
 * silent jump. It closes with its last subscriber.
 */
export class Upstream {
  readonly group: string;
  state: UpstreamState = 'connecting';
  readonly fanout: SseFanout<EdgeTarget>;
  /** Sidecar sequence of the stream and newest seq received in it (0, 0 until known). */
  epoch = 0;
  seq = 0;
  lastError: string | null = null;
  readonly #cfg: UpstreamConfig;
  readonly #onEmpty: () => void;
  /** Subscribers being caught up, or parked until the stream reaches their sequence. */
  readonly #waiting = new Set<EdgeTarget>();
  #waiters: Waiter[] = [];
  #ctl: AbortController | null = null;
  #response: Response | null = null;
  #wake: (() => void) | null = null;
  readonly #backoff: Backoff;
  #recent: SseRun[] = [];
  #recentMessages = 0;
  #recentBytes = 0;
  /** The run of consecutive messages of the current read, not yet handed to the fan-out. */
  #runBuf: Uint8Array | null = null;
  #runStart = 0;
  /** End of the run's last message, and of the last block read into it (other events). */
  #runEnd = 0;
  #runTail = 0;
  #runFirst = 0;
  #runStarts: number[] = [];
  /** Events of other kinds read after the last run, forwarded before the next message. */
  #carry: Uint8Array[] = [];
  #carryBytes = 0;
  /** The sidecar announced a new sequence (gap reset/unknown): the next id starts it. */
  #expectNewEpoch = false;

  constructor(group: string, cfg: UpstreamConfig, onEmpty: () => void) {
    this.#backoff = new Backoff({ initialMs: cfg.retryMinMs, maxMs: cfg.retryMaxMs });
    this.group = group;
    this.#cfg = cfg;
    this.#onEmpty = onEmpty;
    this.fanout = new SseFanout<EdgeTarget>((messages, bytes) => {
      cfg.stats.messagesOut += messages;
      cfg.stats.bytesOut += bytes;
    });
    void this.#run();
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Subscribers held: live, catching up and parked. */
  get size(): number {
    return this.fanout.size + this.#waiting.size;
  }

  /**
   * Adds a subscriber: waits for the stream to be open, replays what it asked for from the
   * sidecar's history, then it receives live messages with no message twice and none skipped.
   * Rejects with UPSTREAM_UNAVAILABLE when the next connection attempt fails.
   */
  async attach(t: EdgeTarget, start: StartPoint): Promise<void> {
    this.#waiting.add(t);
    await this.#whenOpen();
    if (t.released) return;
    if (start.kind === 'live') {
      this.#join(t, this.seq, []);
      return;
    }
    let after = start.kind === 'after' ? start.id : null;
    const parts: Uint8Array[] = [];
    for (let round = 0; round < MAX_CATCH_UP_ROUNDS; round++) {
      const at = await this.#replay(after, parts);
      if (t.released) return;
      if (at === 'too-long') {
        // Send what fits; the client resumes after it with its next connection.
        t.subscriber.write(concatBytes(parts));
        t.subscriber.close(
          new SlowConsumerError(this.#cfg.replayLimitBytes, this.#cfg.replayLimitBytes),
        );
        return;
      }
      if (this.epoch === 0 && at.epoch !== 0) this.#advance(at.epoch, null);
      if (
        at.epoch !== 0 &&
        at.epoch !== this.epoch &&
        (at.epoch > this.epoch || this.#expectNewEpoch)
      ) {
        // The sidecar restarted and the history came from the new run before the stream did.
        t.epoch = at.epoch;
        t.lastSeq = at.seq;
        t.parked = true;
        if (parts.length > 0) t.subscriber.write(concatBytes(parts));
        return;
      }
      if (at.epoch === 0 || at.epoch === this.epoch) {
        const from = at.epoch === 0 ? 0 : at.seq;
        if (from >= this.seq) {
          this.#join(t, from, parts);
          return;
        }
        const extra = this.#recentAfter(from);
        if (extra) {
          parts.push(...extra);
          this.#join(t, this.seq, parts);
          return;
        }
        after = formatId(this.epoch, from);
      } else {
        // The history is from an older run of the sidecar than the stream: read on from there.
        after = formatId(at.epoch, at.seq);
      }
    }
    throw new UpstreamError(`cannot catch up with group ${this.group} on the sidecar`);
  }

  /** Removes a subscriber (idempotent); the stream closes with its last one. */
  release(t: EdgeTarget): void {
    if (t.released) return;
    t.released = true;
    this.fanout.remove(t);
    this.#waiting.delete(t);
    if (this.size === 0) this.close();
  }

  /** Closes the stream; with a reason, also ends every subscriber's stream with it. */
  close(reason?: GroupcastError): void {
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.#ctl?.abort();
      this.#wake?.();
      this.#settle(new UpstreamError('the upstream stream closed'));
      this.#cfg.log('debug', 'upstream closed', { group: this.group });
      this.#onEmpty();
    }
    if (reason) {
      for (const t of [...this.fanout.targets, ...this.#waiting]) t.subscriber.close(reason);
    }
  }

  #join(t: EdgeTarget, seq: number, parts: Uint8Array[]): void {
    this.#waiting.delete(t);
    t.epoch = this.epoch;
    t.lastSeq = seq;
    // The group's position as an `id:` line after any replay, as the sidecar opens a stream:
    // a subscriber cut before its first message resumes exactly where it joined.
    if (this.epoch !== 0 && seq > 0) parts.push(encodePosition(formatId(this.epoch, seq)));
    // Added before the write: a write that ends the subscriber then removes it again.
    this.fanout.add(t);
    if (parts.length > 0) t.subscriber.write(concatBytes(parts));
  }

  /**
   * Replays held messages after `after` (from the earliest with null) into `parts`, gap first,
   * page by page; resolves with how far it got, or 'too-long' past the subscriber's queue limit.
   */
  async #replay(
    after: string | null,
    parts: Uint8Array[],
  ): Promise<{ epoch: number; seq: number } | 'too-long'> {
    let cursor = after;
    let bytes = 0;
    for (const p of parts) bytes += p.byteLength;
    for (let n = 0; n < MAX_REPLAY_PAGES; n++) {
      const page = await this.#cfg.sidecar.historyPage(this.group, cursor, PAGE);
      this.#cfg.stats.replayPages++;
      if (!page) return { epoch: 0, seq: 0 };
      if (page.gap) {
        parts.push(encodeGap(page.gap));
        this.#cfg.stats.count(this.#cfg.stats.gaps, page.gap.reason);
      }
      let run: Uint8Array[] = [];
      let runEpoch = 0;
      let runFirst = 0;
      let runTime: number | undefined;
      const flush = () => {
        if (run.length === 0) return;
        const chunk = encodeBatch(batchOf(run, runEpoch, runFirst, runTime));
        parts.push(chunk);
        bytes += chunk.byteLength;
        run = [];
      };
      for (const m of page.messages) {
        const id = parseId(m.id);
        if (!id) continue;
        const consecutive = id.epoch === runEpoch && id.seq === runFirst + run.length;
        if (run.length > 0 && (!consecutive || m.time !== runTime)) flush();
        if (run.length === 0) {
          runEpoch = id.epoch;
          runFirst = id.seq;
          runTime = m.time;
        }
        run.push(m.data);
      }
      flush();
      const last = page.messages.at(-1)?.id ?? null;
      if (!page.more) {
        const at = parseId(page.lastId ?? last ?? '');
        return at ?? { epoch: 0, seq: 0 };
      }
      if (bytes >= this.#cfg.replayLimitBytes) return 'too-long';
      if (last === null) return { epoch: 0, seq: 0 };
      cursor = last;
    }
    return 'too-long';
  }

  /** Held recent events of every seq after `after`, or null if they do not reach back. */
  #recentAfter(after: number): Uint8Array[] | null {
    const first = this.#recent[0];
    if (!first || first.firstSeq > after + 1) return null;
    const out: Uint8Array[] = [];
    for (const r of this.#recent) if (r.lastSeq > after) out.push(r.after(after));
    return out;
  }

  #whenOpen(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new UpstreamError('the upstream closed'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #settle(err?: GroupcastError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  /** The id to resume after: the newest the stream delivered, or where it started. */
  get #resumeId(): string | null {
    return this.epoch === 0 ? null : formatId(this.epoch, this.seq);
  }

  async #run(): Promise<void> {
    const { sidecar, log, stats } = this.#cfg;
    while (!this.closed) {
      this.state = 'connecting';
      const ctl = new AbortController();
      this.#ctl = ctl;
      const resume = this.#resumeId;
      let opened = false;
      try {
        const res = await sidecar.events(this.group, resume, ctl.signal);
        // Held until the stream ends: on Deno, aborting the request of a Response already
        // garbage-collected does not close its connection, and the sidecar would keep the stream.
        this.#response = res;
        if (resume === null) await this.#locate();
        if (this.closed) break;
        opened = true;
        this.state = 'open';
        this.#backoff.reset();
        this.lastError = null;
        stats.upstreamOpens++;
        log('info', 'upstream open', { group: this.group, resumeAfter: resume });
        this.#settle();
        await this.#read(this.#response.body as ReadableStream<Uint8Array>, ctl);
        throw new UpstreamError('the sidecar ended the stream');
      } catch (err) {
        if (this.closed) break;
        const e = toGroupcastError(err);
        this.lastError = e.message;
        stats.upstreamFailures++;
        // Only the subscribers waiting for this attempt fail; the live ones wait for the next.
        this.#settle(e.code === 'INTERNAL' ? new UpstreamError(e.message) : e);
        const delay = this.#backoff.next();
        log(opened ? 'warn' : 'info', 'upstream failed; reopening', {
          group: this.group,
          error: e.message,
          retryInMs: delay,
        });
        this.state = 'backoff';
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
      } finally {
        ctl.abort();
        this.#response = null;
      }
    }
  }

  /** Where the group stands when a stream opens with no id to resume after: live starts there. */
  async #locate(): Promise<void> {
    const page = await this.#cfg.sidecar.historyPage(this.group, null, 1);
    const at = parseId(page?.lastId ?? '');
    if (!at) return;
    this.#advance(at.epoch, null);
    this.seq = at.seq;
  }

  async #read(body: ReadableStream<Uint8Array>, ctl: AbortController): Promise<void> {
    const splitter = new SseBlockSplitter((b) => this.#onBlock(b), this.#cfg.maxEventBytes);
    this.#carry = [];
    this.#carryBytes = 0;
    const reader = body.getReader();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(), this.#cfg.idleMs);
    };
    try {
      arm();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        arm();
        try {
          splitter.feed(value);
        } finally {
          this.#endRun();
        }
      }
    } catch (err) {
      if (ctl.signal.aborted && !this.closed) {
        throw new UpstreamError(`no data from the sidecar for ${this.#cfg.idleMs} ms`);
      }
      throw err;
    } finally {
      clearTimeout(idle);
      reader.cancel().catch(() => {});
    }
  }

  #onBlock(b: SseBlock): void {
    if (!b.hasData) {
      // A comment (heartbeat), a retry hint or a bare `id:`: nothing to dispatch or forward.
      this.#endRun();
      return;
    }
    switch (b.kind) {
      case BlockKind.Message:
      case BlockKind.Binary:
        this.#onMessage(b);
        return;
      case BlockKind.Gap: {
        this.#endRun();
        let gap: GapInfo;
        try {
          gap = JSON.parse(dataOf(b));
        } catch {
          return;
        }
        this.#onGap(gap);
        return;
      }
      case BlockKind.Close:
        this.#endRun();
        this.#cfg.log('info', 'sidecar closed the upstream', {
          group: this.group,
          reason: dataOf(b),
        });
        return;
      default:
        // Another kind of event (metadata before a batch): it travels with what follows it.
        if (this.#runBuf !== null && b.buf === this.#runBuf && b.start === this.#runTail) {
          this.#runTail = b.end;
        } else {
          this.#endRun();
          this.#carryOn(b.buf.subarray(b.start, b.end));
        }
    }
  }

  #onMessage(b: SseBlock): void {
    const id = b.idStart < 0 ? null : parseIdBytes(b.buf, b.idStart, b.idEnd);
    if (!id) {
      this.#endRun();
      return;
    }
    if (this.#expectNewEpoch || (id.epoch !== this.epoch && this.epoch === 0)) {
      this.#endRun();
      this.#advance(id.epoch, textDecoder.decode(b.buf.subarray(b.idStart, b.idEnd)));
      this.#expectNewEpoch = false;
    } else if (id.epoch !== this.epoch) {
      // An older sequence is stale; a newer one without a gap event is a restart all the same.
      if (id.epoch < this.epoch) {
        this.#endRun();
        return;
      }
      this.#endRun();
      this.#advance(id.epoch, textDecoder.decode(b.buf.subarray(b.idStart, b.idEnd)));
    }
    if (id.seq <= this.seq) {
      this.#endRun();
      return;
    }
    if (
      this.#runBuf !== null &&
      (b.buf !== this.#runBuf ||
        b.start !== this.#runTail ||
        id.seq !== this.#runFirst + this.#runStarts.length)
    ) {
      this.#endRun();
    }
    if (this.#runBuf === null) {
      this.#runBuf = b.buf;
      this.#runStart = b.start;
      this.#runFirst = id.seq;
    }
    this.#runStarts.push(b.start - this.#runStart);
    this.#runEnd = b.end;
    this.#runTail = b.end;
    this.seq = id.seq;
  }

  /** Hands the current run to the fan-out, with any events carried from before it. */
  #endRun(): void {
    const buf = this.#runBuf;
    if (buf === null) return;
    this.#runBuf = null;
    let bytes = buf.subarray(this.#runStart, this.#runEnd);
    let starts = Uint32Array.from(this.#runStarts);
    this.#runStarts = [];
    if (this.#carry.length > 0) {
      let lead = 0;
      for (const c of this.#carry) lead += c.byteLength;
      bytes = concatBytes([...this.#carry, bytes]);
      this.#carry = [];
      this.#carryBytes = 0;
      starts = starts.map((at, i) => (i === 0 ? 0 : at + lead));
    }
    // Other events read after the run's last message belong to the next one.
    if (this.#runTail > this.#runEnd) this.#carryOn(buf.subarray(this.#runEnd, this.#runTail));
    const run = new SseRun(bytes, starts, this.epoch, this.#runFirst);
    this.#cfg.stats.messagesIn += run.count;
    this.#cfg.stats.bytesIn += bytes.byteLength;
    this.#remember(run);
    this.fanout.push(run);
  }

  /** Holds an event for the next message; bounded: with no message coming, the oldest go. */
  #carryOn(bytes: Uint8Array): void {
    this.#carry.push(bytes);
    this.#carryBytes += bytes.byteLength;
    while (this.#carry.length > 1 && this.#carryBytes > this.#cfg.maxEventBytes) {
      this.#carryBytes -= (this.#carry.shift() as Uint8Array).byteLength;
    }
  }

  #remember(run: SseRun): void {
    // The run is a view of a whole read: what it holds in memory is that read's buffer.
    const held = run.bytes.buffer.byteLength;
    this.#recent.push(run);
    this.#recentMessages += run.count;
    this.#recentBytes += held;
    while (
      this.#recent.length > 1 &&
      (this.#recentMessages > RECENT_MESSAGES || this.#recentBytes > RECENT_BYTES)
    ) {
      const old = this.#recent.shift() as SseRun;
      this.#recentMessages -= old.count;
      this.#recentBytes -= old.bytes.buffer.byteLength;
    }
  }

  /** The sidecar says what its replay after our Last-Event-ID cannot include. */
  #onGap(gap: GapInfo): void {
    this.fanout.flush();
    const restart = gap.reason !== 'evicted';
    const from = gap.resumedFrom ? parseId(gap.resumedFrom) : null;
    for (const t of this.fanout.targets.slice()) {
      if (restart ? t.toldReset : from && from.epoch === t.epoch && t.lastSeq >= from.seq - 1) {
        continue;
      }
      this.#tell(t, { requested: t.position, resumedFrom: gap.resumedFrom, reason: gap.reason });
      if (restart) t.toldReset = true;
    }
    if (restart) this.#expectNewEpoch = true;
  }

  /**
   * The stream moved to sidecar sequence `epoch` (a restart, or the first one learnt): everything
   * of the old sequence is written first, then each subscriber starts the new one from 0, told
   * of the gap unless the sidecar already said it.
   */
  #advance(epoch: number, firstId: string | null): void {
    this.fanout.flush();
    for (const t of this.fanout.targets.slice()) {
      if (t.epoch !== 0 && t.epoch !== epoch && !t.toldReset) {
        this.#tell(t, { requested: t.position, resumedFrom: firstId, reason: 'reset' });
      }
      t.epoch = epoch;
      t.lastSeq = 0;
      t.toldReset = false;
    }
    this.epoch = epoch;
    this.seq = 0;
    this.#recent = [];
    this.#recentMessages = 0;
    this.#recentBytes = 0;
    for (const t of this.#waiting) {
      if (!t.parked || t.epoch > epoch) continue;
      t.parked = false;
      if (t.epoch !== epoch) {
        this.#tell(t, { requested: t.position, resumedFrom: firstId, reason: 'reset' });
        this.#join(t, 0, []);
      } else this.#join(t, t.lastSeq, []);
    }
  }

  #tell(t: EdgeTarget, gap: GapInfo): void {
    this.#cfg.stats.count(this.#cfg.stats.gaps, gap.reason);
    t.subscriber.write(encodeGap(gap));
  }
}

/** The data of a control event (gap, close), decoded: rare, so the full parser reads it. */
function dataOf(b: SseBlock): string {
  let out = '';
  new SseParser({ onEvent: (e) => (out = textDecoder.decode(e.data)) }).feed(
    b.buf.subarray(b.start, b.end),
  );
  return out;
}
