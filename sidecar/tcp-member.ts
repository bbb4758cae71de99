import type { Socket } from 'node:net';
import { nanoid } from 'nanoid';
import { textEncoder } from '../shared/bytes.ts';
import {
  GroupcastError,
  InvalidGroupIdError,
  JoinTimeoutError,
  SlowConsumerError,
  toGroupcastError,
  UnauthorizedError,
} from '../shared/errors.ts';
import type { FrameDecoder } from '../shared/framing/index.ts';
import type { Batch } from '../shared/message.ts';
import type { RateLimitAction } from '../shared/options/sidecar.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import { remoteOf } from './address.ts';
import type { Group } from './group.ts';
import type { HubPort } from './hub-port.ts';
import { type Joined, JoinParser } from './join.ts';
import type { Member } from './member.ts';
import { corkForTurn, holdForTurn, type TurnHolder } from './turn-cork.ts';

export interface TcpMemberOptions {
  prefix: string;
  maxMessageBytes: number;
  maxPendingBytes: number;
  joinTimeoutMs: number;
  legacyJoinWaitMs: number;
  rateLimit: number;
  rateBurst: number;
  rateLimitAction: RateLimitAction;
  /** The join secret a group requires, if any. */
  secretFor: (group: string) => string | undefined;
}

/** Compares secrets in time independent of where they differ. */
function sameSecret(given: string | undefined, required: string): boolean {
  if (given === undefined) return false;
  let diff = given.length ^ required.length;
  for (let i = 0; i < required.length; i++)
    diff |= (given.charCodeAt(i) | 0) ^ required.charCodeAt(i);
  return diff === 0;
}

/** After an ERROR line, how long the peer has to read it before the socket is destroyed. */
export const ERROR_LINGER_MS = 2_000;

/** What members' join times count from (see joinedAt). */
const CLOCK_ZERO = Date.now();

/** ms since CLOCK_ZERO as an int32 (an unboxed field) for the first 24 days, a double after. */
function sinceClockZero(): number {
  const ms = Date.now() - CLOCK_ZERO;
  return ms < 2 ** 31 ? ms | 0 : ms;
}

/** Where a socket's member is, for the shared listener functions. */
const MEMBER = Symbol('groupcast.tcpMember');
type MemberSocket = Socket & { [MEMBER]: TcpMember };

/**
 * One TCP connection: reads its join line, then decodes its stream into batches for its group
 * and writes the group's batches to it. Flow control both ways: while its group is congested (or
 * the memory budget is used up) the socket is not read, so TCP slows the publisher down; while
 * its own unsent bytes are over the high-water mark its group's publishers wait for it. Past
 * maxPendingBytes from sources that cannot wait, or stalled, it is cut.
 */
export class TcpMember implements Member, TurnHolder {
  // Kind and id live on the prototype or come when first asked: fields of every idle member
  // are memory (measured at 10,000 idle members; most are never listed by id).
  get transport(): 'tcp' {
    return 'tcp';
  }
  get needsIds(): false {
    return false;
  }
  get id(): string {
    this.#id ??= nanoid(10);
    return this.#id;
  }
  #id: string | undefined;
  /** `host:port` of the peer, made when asked (logs, listings): Node keeps the address it read. */
  get remote(): string {
    return remoteOf(this.#socket);
  }
  get joinedAt(): number {
    return CLOCK_ZERO + this.#joinedAfter;
  }
  /** ms from CLOCK_ZERO, kept a small integer where Date.now() would be a boxed double (16 B). */
  readonly #joinedAfter = sinceClockZero();
  groupSlot = -1;
  over = false;
  detached = false;
  readonly #socket: Socket;
  readonly #hub: HubPort;
  readonly #opts: TcpMemberOptions;
  #join: JoinParser | null;
  #decoder: FrameDecoder | null = null;
  #group: Group | null = null;
  #closed = false;
  #joinTimer: ReturnType<typeof setTimeout> | undefined;
  #legacyTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #bucket: TokenBucket | null;
  /** Bytes handed to the socket since it opened (taken = handed - unsent). */
  #handed = 0;
  /** Bytes the socket had taken when progress was last asked. */
  #taken = 0;
  /** Partial-frame bytes charged to the memory budget. */
  #charged = 0;
  /** Not read while its group is congested or the budget is used up. */
  #paused = false;
  /** Why it was cut, for its group's leave. */
  #cutReason = 'closed';
  /** The one buffer this turn handed over, written when the turn is done (see deliver). */
  #turnHeld: Uint8Array | null = null;

  constructor(socket: Socket, hub: HubPort, opts: TcpMemberOptions, preconfigured?: string) {
    this.#socket = socket;
    this.#hub = hub;
    this.#opts = opts;
    this.#join = preconfigured === undefined ? new JoinParser(opts.prefix) : null;
    this.#bucket =
      opts.rateLimit > 0
        ? new TokenBucket(opts.rateLimit, opts.rateBurst || opts.rateLimit * 2, Date.now())
        : null;
    (socket as MemberSocket)[MEMBER] = this;
    // 'close' comes through the listener's own handler (TcpServer passes TcpMember.closed).
    socket.on('data', TcpMember.#data);
    socket.on('error', TcpMember.#error);
    socket.on('drain', TcpMember.#drain);
    if (preconfigured !== undefined)
      this.#joined({ group: preconfigured, rest: new Uint8Array(0) });
    else {
      this.#joinTimer = setTimeout(
        () => this.#fail(new JoinTimeoutError(opts.joinTimeoutMs)),
        opts.joinTimeoutMs,
      );
    }
  }

  get group(): Group | null {
    return this.#group;
  }

  get pendingBytes(): number {
    const held = this.#turnHeld;
    return held === null
      ? this.#socket.writableLength
      : this.#socket.writableLength + held.byteLength;
  }

  joined(): void {}

  left(): void {}

  deliver(batch: Batch, pausable: boolean): void {
    if (this.#closed) return;
    const socket = this.#socket;
    const wire = batch.wire;
    // What one turn brings leaves in one write. The first buffer waits for the turn's end and
    // goes out with a plain write; a second one corks the socket for the rest of the turn.
    if (socket.writableCorked > 0) socket.write(wire);
    else if (this.#turnHeld === null) {
      this.#turnHeld = wire;
      holdForTurn(this);
    } else {
      corkForTurn(socket);
      socket.write(this.#turnHeld);
      this.#turnHeld = null;
      socket.write(wire);
    }
    this.#handed += wire.byteLength;
    this.#hub.sent('tcp', batch.count, wire.byteLength);
    const pending = this.pendingBytes;
    if ((!pausable || this.detached) && pending > this.#opts.maxPendingBytes) {
      this.#cut(new SlowConsumerError(pending, this.#opts.maxPendingBytes));
      return;
    }
    const group = this.#group;
    if (group && !this.over && pending > group.flow.high) group.rise(this);
  }

  /** Writes the buffer held for this turn, if any (after the turn, and before the socket ends). */
  flushTurn(): void {
    const held = this.#turnHeld;
    if (held === null) return;
    this.#turnHeld = null;
    if (!this.#closed) this.#socket.write(held);
  }

  progress(): boolean {
    const taken = this.#handed - this.pendingBytes;
    if (taken <= this.#taken) return false;
    this.#taken = taken;
    return true;
  }

  close(reason?: GroupcastError): void {
    if (this.#closed) return;
    if (reason?.code === 'SHUTTING_DOWN') {
      this.flushTurn();
      this.#closed = true;
      this.#socket.end();
      return;
    }
    this.#cut(reason ?? new GroupcastError('SHUTTING_DOWN'));
  }

  /** Node empties the socket's queue: the group's publishers may go on. */
  // One listener function per event for every socket, not four closures per member: with the
  // properties V8 gave each, they were about 0.6 KiB of an idle member.
  static readonly #data = function (this: Socket, chunk: Buffer): void {
    (this as MemberSocket)[MEMBER].#socketOnData(chunk);
  };

  /** The socket of a member closed: for the stream listener's one 'close' listener. */
  static readonly closed = (socket: Socket): void => {
    const member = (socket as Partial<MemberSocket>)[MEMBER];
    if (member) member.#socketOnClose();
  };

  static readonly #error = function (this: Socket, err: Error): void {
    (this as MemberSocket)[MEMBER].#socketOnError(err);
  };

  static readonly #drain = function (this: Socket): void {
    (this as MemberSocket)[MEMBER].#socketOnDrain();
  };

  #socketOnDrain(): void {
    if (this.over) this.#group?.fall(this);
  }

  /** Stops reading until `ready` calls back (its group drained, or the budget has room). */
  #pauseUntil(ready: (resume: () => void) => void): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
    ready(() => this.#resume());
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#closed) return;
    // Still held back by the other condition: wait for that one too.
    const group = this.#group;
    if (group?.congested) this.#pauseUntil((fn) => group.whenDrained(fn));
    else if (this.#hub.overBudget) this.#pauseUntil((fn) => this.#hub.whenUnderBudget(fn));
    else this.#socket.resume();
  }

  /** The partial frame the decoder holds is charged to the memory budget as it changes. */
  #chargePartial(): void {
    const held = this.#decoder?.memory ?? 0;
    if (held === this.#charged) return;
    this.#hub.charge('partial', held - this.#charged);
    this.#charged = held;
  }

  #socketOnData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      if (this.#join) {
        this.#onJoinData(chunk);
        return;
      }
      this.#decoder ??= this.#hub.codec.decoder(this.#opts.maxMessageBytes);
      const batch = this.#decoder.push(chunk);
      this.#chargePartial();
      if (!batch) return;
      if (this.#bucket && batch.count > 0 && !this.#bucket.take(batch.count, Date.now())) {
        this.#rateLimited(batch.count);
        return;
      }
      const group = this.#group as Group;
      this.#hub.publishBatch(group, batch, this, 'tcp');
      // Recipients behind, or memory used up: stop reading, so TCP slows the publisher down.
      if (group.congested) this.#pauseUntil((fn) => group.whenDrained(fn));
      else if (this.#hub.overBudget) this.#pauseUntil((fn) => this.#hub.whenUnderBudget(fn));
    } catch (err) {
      this.#fail(toGroupcastError(err));
    }
  }

  #onJoinData(chunk: Uint8Array): void {
    const parser = this.#join as JoinParser;
    const joined = parser.push(chunk);
    if (joined) {
      this.#joined(joined);
      return;
    }
    if (parser.hasCandidate && this.#opts.legacyJoinWaitMs > 0) {
      clearTimeout(this.#legacyTimer);
      this.#legacyTimer = setTimeout(() => {
        if (this.#closed || !this.#join) return;
        try {
          this.#joined(this.#join.completeWithoutNewline());
        } catch (err) {
          this.#fail(toGroupcastError(err));
        }
      }, this.#opts.legacyJoinWaitMs);
    }
  }

  /** Past the rate: the read's messages are dropped (and counted), or the member is disconnected. */
  #rateLimited(messages: number): void {
    const err = new GroupcastError(
      'RATE_LIMITED',
      `more than ${this.#opts.rateLimit} messages a second`,
    );
    if (this.#opts.rateLimitAction === 'disconnect') {
      this.#fail(err);
      return;
    }
    this.#hub.reject('RATE_LIMITED');
    this.#hub.drop('rate_limited', messages);
  }

  #joined(joined: Joined): void {
    this.#clearTimers();
    this.#join = null;
    const required = this.#opts.secretFor(joined.group);
    if (
      required !== undefined ? !sameSecret(joined.secret, required) : joined.secret !== undefined
    ) {
      this.#fail(
        required !== undefined
          ? new UnauthorizedError(
              `wrong or missing join secret for group ${JSON.stringify(joined.group)}`,
            )
          : new InvalidGroupIdError('contains whitespace (no join secret is set for this group)'),
      );
      return;
    }
    try {
      this.#group = this.#hub.join(joined.group, this);
    } catch (err) {
      this.#fail(toGroupcastError(err));
      return;
    }
    // The decoder comes with the first data: most members of a fan-out only receive.
    if (joined.rest.byteLength > 0) this.#socketOnData(joined.rest as Buffer);
  }

  /** A protocol error: one ERROR line, then close once the peer has had time to read it. */
  #fail(err: GroupcastError): void {
    if (this.#closed) return;
    // What this turn handed over goes before the ERROR line, as it did while corked.
    this.flushTurn();
    this.#closed = true;
    this.#clearTimers();
    this.#hub.reject(err.code);
    this.#hub.log.warn(
      { remote: this.remote, group: this.#group?.name, code: err.code, err: err.message },
      'rejected',
    );
    this.#leave(err.code);
    const socket = this.#socket;
    socket.end(textEncoder.encode(`ERROR ${err.code} ${err.message}\n`));
    // Keep reading (and discarding) so our close is a FIN, not a reset that could eat the line.
    socket.resume();
    setTimeout(() => socket.destroy(), ERROR_LINGER_MS).unref();
  }

  #cut(err: GroupcastError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cutReason = err.code;
    this.#hub.log.warn(
      { remote: this.remote, group: this.#group?.name, code: err.code, err: err.message },
      'disconnected',
    );
    this.#socket.destroy();
  }

  /** Cleared and let go: a spent Timeout held by each of 10,000 idle members is 1 MiB. */
  #clearTimers(): void {
    clearTimeout(this.#joinTimer);
    clearTimeout(this.#legacyTimer);
    this.#joinTimer = undefined;
    this.#legacyTimer = undefined;
  }

  #leave(reason: string): void {
    if (this.#group) this.#hub.leave(this.#group, this, reason);
  }

  #socketOnClose(): void {
    this.#closed = true;
    this.#clearTimers();
    this.#hub.closed('tcp');
    this.#leave(this.#cutReason);
    this.#group = null;
    this.#decoder = null;
    this.#chargePartial();
  }

  #socketOnError(err: Error): void {
    this.#hub.log.debug({ remote: this.remote, err: err.message }, 'tcp socket error');
  }
}
