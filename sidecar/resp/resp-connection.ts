import type { Socket } from 'node:net';
import type { Authenticator, Grants } from '../../api/auth.ts';
import {
  GroupcastError,
  MessageTooLargeError,
  SlowConsumerError,
  toGroupcastError,
} from '../../shared/errors.ts';
import type { RateLimitAction } from '../../shared/options/sidecar.ts';
import { TokenBucket } from '../../shared/token-bucket.ts';
import type { Group } from '../group.ts';
import type { HubPort } from '../hub-port.ts';
import { arityOk, COMMANDS, helloReply, SUBCOMMANDS } from './resp-commands.ts';
import { arrayHeader, bulk, error, integer, nil, OK, type Proto, simple } from './resp-encode.ts';
import { commandReply, infoReply, isNumsub, numsubReply, pubsubReply } from './resp-introspect.ts';
import type { RespMember } from './resp-member.ts';
import { RespParser, RespProtocolError } from './resp-parser.ts';
import { codeError, RespSubscriptions, type SubscriptionsHost } from './resp-subscriptions.ts';

export interface RespConnectionOptions {
  maxMessageBytes: number;
  maxPendingBytes: number;
  flowHighWater: number;
  respMaxSubscriptions: number;
  rateLimit: number;
  rateBurst: number;
  rateLimitAction: RateLimitAction;
  /** Null: auth is off, every client may do everything. */
  auth: Authenticator | null;
  /** The port the listener is on (INFO). */
  port: () => number;
  startedAt: number;
}

const NOAUTH = 'NOAUTH Authentication required.';
const NOAUTH_HELLO =
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time';
const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
const NO_PASSWORD =
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?';
/** Longest argument echoed back in an unknown-command error, as Redis cuts it. */
const ECHO_ARGS_BYTES = 128;

/** Arguments a command may always have, whatever respMaxSubscriptions (Redis takes far more). */
const RESP_MIN_ARGS = 1024;

/** PUBLISHes gathered into one batch at most (a read of 64 KiB holds a few hundred). */
const RESP_PUBLISH_BATCH = 1024;

let nextClientId = 0;

/** Connections corked in this turn: one setImmediate uncorks them all (not one per socket). */
let toUncork: (() => void)[] = [];

function uncorkAtTurnEnd(uncork: () => void): void {
  if (toUncork.length === 0) setImmediate(uncorkAll);
  toUncork.push(uncork);
}

function uncorkAll(): void {
  const list = toUncork;
  toUncork = [];
  for (const uncork of list) uncork();
}

/**
 * One Redis client on the RESP port: reads its commands (pipelined or not), answers as Redis 7
 * does, and is a member (RespMember) of every group it subscribes to, directly or through a
 * pattern. Publishing goes through the hub like an HTTP POST; while a group it published to is
 * congested, or the memory budget is used up, its commands are not read (TCP slows it down).
 */
export class RespConnection implements SubscriptionsHost {
  readonly remote: string;
  readonly clientId = ++nextClientId;
  proto: Proto = 2;
  name: string | undefined;
  readonly #socket: Socket;
  readonly #hub: HubPort;
  readonly #opts: RespConnectionOptions;
  readonly #parser: RespParser;
  readonly #bucket: TokenBucket | null;
  /** Null while auth is required and not given; the grants once given (or all when auth is off). */
  #grants: Grants | null;
  readonly #subs: RespSubscriptions;
  #closed = false;
  /**
   * PUBLISHes to one channel read in a row, gathered into one batch (one write per subscriber,
   * not one per message); published before any other command runs and at the end of each read.
   */
  #outbox: { name: string; channel: Buffer; payloads: Buffer[] } | null = null;
  /** A command read while the gathered batch made the connection wait: it runs first on resume. */
  #held: Buffer[] | null = null;
  /** Corked until the turn ends: see send. */
  #corked = false;
  /** Waiting for an answer (AUTH) or for room (flow control): no command is read meanwhile. */
  #waiting = false;
  #handed = 0;
  #charged = 0;
  #cutReason = 'closed';

  constructor(socket: Socket, remote: string, hub: HubPort, opts: RespConnectionOptions) {
    this.#socket = socket;
    this.remote = remote;
    this.#hub = hub;
    this.#opts = opts;
    // A command is one PUBLISH at most as big as a message, or a (P|S)SUBSCRIBE of the most
    // channels a connection may hold (a few more are read, to be refused with a clear error).
    this.#parser = new RespParser(
      Math.max(opts.respMaxSubscriptions, RESP_MIN_ARGS) + 1,
      opts.maxMessageBytes,
    );
    this.#bucket =
      opts.rateLimit > 0
        ? new TokenBucket(opts.rateLimit, opts.rateBurst || opts.rateLimit * 2, Date.now())
        : null;
    this.#grants = opts.auth ? null : ALL_GRANTS;
    this.#subs = new RespSubscriptions(this, hub, opts.respMaxSubscriptions);
    socket.on('data', this.#socketOnData);
    socket.on('close', this.#socketOnClose);
    socket.on('error', this.#socketOnError);
    socket.on('drain', this.#socketOnDrain);
  }

  get pendingBytes(): number {
    return this.#socket.writableLength;
  }

  get grants(): Grants {
    return this.#grants as Grants;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes a reply (or a push not counted as a message). */
  write(bytes: Buffer): void {
    this.#write(bytes);
  }

  get takenBytes(): number {
    return this.#handed - this.#socket.writableLength;
  }

  // ---- RespLink ---------------------------------------------------------------------------

  send(bytes: Buffer, messages: number, pausable: boolean): boolean {
    if (this.#closed) return false;
    // Pushes of one event-loop turn (from every publisher read in it) leave in one write.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      uncorkAtTurnEnd(this.#uncork);
    }
    this.#write(bytes);
    this.#hub.sent('resp', messages, bytes.byteLength);
    const pending = this.#socket.writableLength;
    if (!pausable && pending > this.#opts.maxPendingBytes) {
      this.#cut(new SlowConsumerError(pending, this.#opts.maxPendingBytes));
      return false;
    }
    return true;
  }

  close(reason?: GroupcastError): void {
    if (this.#closed) return;
    if (reason?.code === 'SHUTTING_DOWN') {
      this.#closed = true;
      this.#socket.end();
      return;
    }
    this.#cut(reason ?? new GroupcastError('SHUTTING_DOWN'));
  }

  forget(member: RespMember): void {
    this.#subs.forget(member);
  }

  // ---- socket -----------------------------------------------------------------------------

  #write(bytes: Buffer): void {
    this.#handed += bytes.byteLength;
    this.#socket.write(bytes);
  }

  #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #socketOnData = (chunk: Buffer): void => {
    if (this.#closed) return;
    this.#parser.push(chunk);
    this.#run();
  };

  /** Runs the commands read so far, in order, until one must wait. */
  #run(): void {
    const socket = this.#socket;
    socket.cork();
    try {
      while (!this.#closed && !this.#waiting) {
        let args: Buffer[] | null = this.#held;
        this.#held = null;
        try {
          args ??= this.#parser.next();
        } catch (err) {
          if (!(err instanceof RespProtocolError)) throw err;
          this.#flush();
          this.#protocolError(err.message);
          return;
        }
        if (args === null) break;
        if (args.length === 0) continue;
        if (this.#gather(args)) {
          this.#gatherMore();
          continue;
        }
        if (this.#outbox) {
          this.#flush();
          // The gathered messages' group is congested: this command waits its turn.
          if (this.#waiting || this.#closed) {
            this.#held = args;
            break;
          }
        }
        this.#command(args);
      }
      this.#flush();
      // The client does not read its replies: no more commands until it does (bounded queue).
      if (!this.#waiting && !this.#closed && socket.writableLength > this.#opts.flowHighWater) {
        this.#waitFor((fn) => socket.once('drain', fn));
      }
    } catch (err) {
      const e = toGroupcastError(err);
      this.#hub.log.error({ remote: this.remote, err: e.message }, 'resp command failed');
      this.#write(error(`ERR ${e.message}`));
    } finally {
      this.#chargePartial();
      socket.uncork();
    }
  }

  /** Stops reading until `ready` calls back; then goes on with the commands already read. */
  #waitFor(ready: (resume: () => void) => void): void {
    if (this.#waiting) return;
    this.#waiting = true;
    this.#socket.pause();
    let called = false;
    ready(() => {
      if (called) return;
      called = true;
      this.#waiting = false;
      if (this.#closed) return;
      this.#socket.resume();
      this.#run();
    });
  }

  #chargePartial(): void {
    const held = this.#closed ? 0 : this.#parser.memory;
    if (held === this.#charged) return;
    this.#hub.charge('partial', held - this.#charged);
    this.#charged = held;
  }

  /** Node emptied the socket's queue: groups it held back may go on. */
  #socketOnDrain = (): void => {
    this.#subs.drained();
  };

  #protocolError(message: string): void {
    this.#hub.reject('RESP_PROTOCOL');
    this.#hub.log.warn({ remote: this.remote, err: message }, 'resp protocol error');
    this.#write(error(`ERR ${message}`));
    this.#closed = true;
    this.#cutReason = 'RESP_PROTOCOL';
    this.#socket.end();
    this.#subs.leaveAll(this.#cutReason);
  }

  #cut(err: GroupcastError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cutReason = err.code;
    this.#hub.log.warn({ remote: this.remote, code: err.code, err: err.message }, 'disconnected');
    this.#socket.destroy();
  }

  #socketOnClose = (): void => {
    this.#closed = true;
    this.#hub.closed('resp');
    this.#subs.leaveAll(this.#cutReason);
    this.#chargePartial();
  };

  #socketOnError = (err: Error): void => {
    this.#hub.log.debug({ remote: this.remote, err: err.message }, 'resp socket error');
  };

  // ---- commands ---------------------------------------------------------------------------

  #command(args: Buffer[]): void {
    const given = args[0].toString('utf8');
    const name = given.toLowerCase();
    const spec = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!spec) {
      this.#write(error(unknownCommand(given, args)));
      return;
    }
    if (!arityOk(spec.arity, args.length)) {
      this.#write(error(`ERR wrong number of arguments for '${name}' command`));
      return;
    }
    if (this.#grants === null && !spec.noAuth) {
      this.#write(error(NOAUTH));
      return;
    }
    if (this.proto === 2 && this.#subs.any && !spec.inSubscribed) {
      this.#write(
        error(
          `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
        ),
      );
      return;
    }
    switch (name) {
      case 'ping':
        this.#ping(args);
        return;
      case 'echo':
        this.#write(bulk(args[1]));
        return;
      case 'hello':
        this.#hello(args);
        return;
      case 'auth':
        this.#auth(args);
        return;
      case 'client':
        this.#client(args);
        return;
      case 'select':
        this.#select(args[1]);
        return;
      case 'quit':
        this.#write(OK);
        this.#closed = true;
        this.#socket.end();
        this.#subs.leaveAll(this.#cutReason);
        return;
      case 'reset':
        this.#reset();
        return;
      case 'command':
        this.#write(commandReply(args, this.proto));
        return;
      case 'info':
        this.#write(
          infoReply(args, this.proto, {
            node: this.#hub.node,
            port: this.#opts.port(),
            startedAt: this.#opts.startedAt,
            clients: this.#hub.connectionsOf('resp'),
          }),
        );
        return;
      case 'subscribe':
      case 'ssubscribe':
        this.#subs.subscribe(args, name === 'ssubscribe');
        return;
      case 'unsubscribe':
      case 'sunsubscribe':
        this.#subs.unsubscribe(args, name === 'sunsubscribe');
        return;
      case 'psubscribe':
        this.#subs.psubscribe(args);
        return;
      case 'punsubscribe':
        this.#subs.punsubscribe(args);
        return;
      case 'publish':
      case 'spublish':
        this.#publish(args[1], args[2]);
        return;
      case 'pubsub':
        if (isNumsub(args)) this.#numsub(args.slice(2));
        else this.#write(pubsubReply(args, this.#hub));
        return;
    }
  }

  /**
   * PUBSUB NUMSUB: with other nodes, their members count too (read from the cluster's listing,
   * async: the connection reads nothing else meanwhile, so replies keep their order).
   */
  #numsub(names: Buffer[]): void {
    const text = names.map((n) => n.toString('utf8'));
    const counts = this.#hub.subscriberCounts(text);
    if (!counts) {
      const local = text.map((n) => this.#hub.findGroup(n)?.anchored ?? 0);
      this.#write(numsubReply(names, local));
      return;
    }
    // Copies: arguments are views into the read buffer, read again meanwhile.
    const kept = names.map((n) => Buffer.from(n));
    this.#waitFor((resume) => {
      const answer = (list: number[]) => {
        if (!this.#closed) this.#write(numsubReply(kept, list));
        resume();
      };
      counts.then(answer, () => answer(text.map((n) => this.#hub.findGroup(n)?.anchored ?? 0)));
    });
  }

  #ping(args: Buffer[]): void {
    if (args.length > 2) {
      this.#write(error("ERR wrong number of arguments for 'ping' command"));
      return;
    }
    if (this.proto === 2 && this.#subs.any) {
      this.#write(Buffer.concat([arrayHeader(2), bulk('pong'), bulk(args[1] ?? Buffer.alloc(0))]));
    } else this.#write(args.length > 1 ? bulk(args[1]) : simple('PONG'));
  }

  #select(arg: Buffer): void {
    const text = arg.toString('latin1');
    if (!/^-?\d{1,18}$/.test(text))
      this.#write(error('ERR value is not an integer or out of range'));
    else if (Number(text) !== 0) this.#write(error('ERR DB index is out of range'));
    else this.#write(OK);
  }

  /** Checks a token (async): the connection reads nothing else meanwhile, so replies keep their order. */
  #authenticate(token: string, then: (ok: boolean) => void): void {
    const auth = this.#opts.auth as Authenticator;
    this.#waitFor((resume) => {
      auth.verify(token).then(
        (grants) => {
          if (this.#closed) return resume();
          this.#grants = grants;
          then(true);
          resume();
        },
        () => {
          if (this.#closed) return resume();
          this.#hub.reject('UNAUTHORIZED');
          then(false);
          resume();
        },
      );
    });
  }

  #auth(args: Buffer[]): void {
    if (args.length > 3) {
      this.#write(error('ERR syntax error'));
      return;
    }
    if (!this.#opts.auth) {
      this.#write(args.length === 2 ? error(NO_PASSWORD) : OK);
      return;
    }
    this.#authenticate(args[args.length - 1].toString('utf8'), (ok) =>
      this.#write(ok ? OK : error(WRONGPASS)),
    );
  }

  #hello(args: Buffer[]): void {
    let proto: Proto = this.proto;
    if (args.length > 1) {
      const text = args[1].toString('latin1');
      if (!/^-?\d{1,18}$/.test(text)) {
        this.#write(error('ERR Protocol version is not an integer or out of range'));
        return;
      }
      const n = Number(text);
      if (n < 2 || n > 3) {
        this.#write(error('NOPROTO unsupported protocol version'));
        return;
      }
      proto = n as Proto;
    }
    let token: string | undefined;
    let setname: Buffer | undefined;
    for (let i = 2; i < args.length; i++) {
      const opt = args[i].toString('utf8');
      const more = args.length - i - 1;
      if (opt.toLowerCase() === 'auth' && more >= 2) {
        token = args[i + 2].toString('utf8');
        i += 2;
      } else if (opt.toLowerCase() === 'setname' && more >= 1) {
        setname = args[++i];
      } else {
        this.#write(error(`ERR Syntax error in HELLO option '${opt}'`));
        return;
      }
    }
    const finish = () => {
      if (setname !== undefined && !this.#setName(setname)) return;
      this.proto = proto;
      this.#write(helloReply(this.clientId, proto));
    };
    if (token === undefined) {
      if (this.#grants === null) this.#write(error(NOAUTH_HELLO));
      else finish();
      return;
    }
    if (!this.#opts.auth) {
      finish();
      return;
    }
    this.#authenticate(token, (ok) => {
      if (ok) finish();
      else this.#write(error(WRONGPASS));
    });
  }

  /** Sets the client name; false (and an error reply) when it has spaces or special characters. */
  #setName(value: Buffer): boolean {
    for (const b of value) {
      if (b < 0x21 || b > 0x7e) {
        this.#write(
          error('ERR Client names cannot contain spaces, newlines or special characters.'),
        );
        return false;
      }
    }
    this.name = value.byteLength === 0 ? undefined : value.toString('latin1');
    return true;
  }

  #client(args: Buffer[]): void {
    const given = args[1].toString('utf8');
    const sub = given.toLowerCase();
    const arity = SUBCOMMANDS[`client|${sub}`];
    if (arity === undefined) {
      this.#write(error(`ERR unknown subcommand '${given}'. Try CLIENT HELP.`));
      return;
    }
    if (!arityOk(arity, args.length)) {
      this.#write(error(`ERR wrong number of arguments for 'client|${sub}' command`));
      return;
    }
    if (sub === 'id') this.#write(integer(this.clientId));
    else if (sub === 'getname')
      this.#write(this.name === undefined ? nil(this.proto) : bulk(this.name));
    else if (sub === 'setname') {
      if (this.#setName(args[2])) this.#write(OK);
    } else {
      // SETINFO (Redis 7.2): the library's name and version, accepted and not kept.
      const attr = args[2].toString('utf8');
      if (!['lib-name', 'lib-ver'].includes(attr.toLowerCase()))
        this.#write(error(`ERR Unrecognized option '${attr}'`));
      else this.#write(OK);
    }
  }

  #reset(): void {
    this.#subs.leaveAll(this.#cutReason);
    this.proto = 2;
    this.name = undefined;
    this.#grants = this.#opts.auth ? null : ALL_GRANTS;
    this.#write(simple('RESET'));
  }

  /**
   * Adds a PUBLISH to the batch being gathered when nothing in it can be refused (or, with no
   * batch yet, answers its refusal at once); false: it runs as a command of its own.
   */
  #gather(args: Buffer[]): boolean {
    if (args.length !== 3 || !isPublish(args[0])) return false;
    if (this.#grants === null || (this.proto === 2 && this.#subs.any)) return false;
    const payload = args[2];
    if (payload.byteLength === 0 || payload.byteLength > this.#opts.maxMessageBytes) return false;
    const box = this.#outbox;
    if (box && (!args[1].equals(box.channel) || box.payloads.length >= RESP_PUBLISH_BATCH))
      return false;
    // Past the rate (nothing spent): refused as a command of its own, after what was gathered.
    if (this.#bucket && !this.#bucket.take(1, Date.now())) return false;
    if (box) {
      box.payloads.push(payload);
      return true;
    }
    const names = this.#subs.channelNames([args[1]], 'publish');
    if (names) this.#outbox = { name: names[0], channel: args[1], payloads: [payload] };
    return true;
  }

  /**
   * More PUBLISHes to the gathered batch's channel, read on the parser's fast path (what #gather
   * checks of the connection holds while nothing else runs; the rate limit takes the slow path).
   */
  #gatherMore(): void {
    const box = this.#outbox;
    if (!box || this.#bucket) return;
    const payloads = box.payloads;
    while (payloads.length < RESP_PUBLISH_BATCH) {
      const payload = this.#parser.nextPublishTo(box.channel);
      if (payload === null) return;
      payloads.push(payload);
    }
  }

  /** Publishes the gathered batch: one reply per PUBLISH, each with the recipients. */
  #flush(): void {
    const box = this.#outbox;
    if (!box) return;
    this.#outbox = null;
    let recipients: number;
    let group: Group;
    try {
      group = this.#hub.groupFor(box.name);
      let batch: ReturnType<HubPort['codec']['encode']>;
      try {
        batch = this.#hub.codec.encode(box.payloads);
      } catch (err) {
        if (box.payloads.length === 1) throw err;
        // One of them cannot be framed: each is published (or refused) on its own.
        for (const p of box.payloads) {
          this.#outbox = { ...box, payloads: [p] };
          this.#flush();
        }
        return;
      }
      this.#hub.admit(batch.wire.byteLength);
      recipients = this.#hub.publishBatch(group, batch, null, 'resp');
    } catch (err) {
      const e = toGroupcastError(err);
      this.#hub.reject(e.code);
      this.#write(repeat(codeError(e), box.payloads.length));
      return;
    }
    // Redis counts a subscriber once per subscription that matched (channel and patterns).
    this.#write(repeat(count(recipients + group.extraDeliveries), box.payloads.length));
    // Recipients behind, or memory used up: read no more commands until there is room.
    if (group.congested) this.#waitFor((fn) => group.whenDrained(fn));
    else if (this.#hub.overBudget) this.#waitFor((fn) => this.#hub.whenUnderBudget(fn));
  }

  #publish(channel: Buffer, payload: Buffer): void {
    const names = this.#subs.channelNames([channel], 'publish');
    if (!names) return;
    if (this.#bucket && !this.#bucket.take(1, Date.now())) {
      const err = new GroupcastError(
        'RATE_LIMITED',
        `more than ${this.#opts.rateLimit} messages a second`,
      );
      this.#hub.reject('RATE_LIMITED');
      if (this.#opts.rateLimitAction === 'disconnect') {
        this.#write(codeError(err));
        this.#cutReason = 'RATE_LIMITED';
        this.#closed = true;
        this.#socket.end();
        this.#subs.leaveAll(this.#cutReason);
      } else {
        this.#hub.drop('rate_limited', 1);
        this.#write(codeError(err));
      }
      return;
    }
    const refusal =
      payload.byteLength === 0
        ? new GroupcastError('EMPTY_MESSAGE')
        : payload.byteLength > this.#opts.maxMessageBytes
          ? new MessageTooLargeError(this.#opts.maxMessageBytes)
          : null;
    if (refusal) {
      this.#hub.reject(refusal.code);
      this.#write(codeError(refusal));
      return;
    }
    this.#outbox = { name: names[0], channel, payloads: [payload] };
    this.#flush();
  }
}

const EVERY = () => true;
const ALL_GRANTS: Grants = { subject: 'anonymous', publish: EVERY, subscribe: EVERY };

const PUBLISH_NAME = Buffer.from('publish');

/** PUBLISH or SPUBLISH, in any case, without making a string of it. */
function isPublish(name: Buffer): boolean {
  const skip = name.byteLength - PUBLISH_NAME.byteLength;
  if (skip !== 0 && !(skip === 1 && (name[0] | 0x20) === 0x73)) return false;
  for (let i = 0; i < PUBLISH_NAME.byteLength; i++) {
    if ((name[skip + i] | 0x20) !== PUBLISH_NAME[i]) return false;
  }
  return true;
}

/** A reply for each of `n` commands, as one buffer (fill repeats it in one native call). */
function repeat(reply: Buffer, n: number): Buffer {
  if (n === 1) return reply;
  return Buffer.allocUnsafe(reply.byteLength * n).fill(reply);
}

/** `:<n>\r\n` for the counts a PUBLISH usually answers, encoded once (never written to). */
const SMALL_COUNTS = Array.from({ length: 1024 }, (_, n) => integer(n));

function count(n: number): Buffer {
  return n < SMALL_COUNTS.length ? SMALL_COUNTS[n] : integer(n);
}

/** Redis's wording: the name, then the first arguments, each quoted, up to 128 bytes. */
function unknownCommand(given: string, args: Buffer[]): string {
  let listed = '';
  for (let i = 1; i < args.length && listed.length < ECHO_ARGS_BYTES; i++) {
    listed += `'${args[i].toString('utf8').slice(0, ECHO_ARGS_BYTES - listed.length)}' `;
  }
  return `ERR unknown command '${given.slice(0, 128)}', with args beginning with: ${listed}`;
}
