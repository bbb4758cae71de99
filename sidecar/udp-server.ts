import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { textEncoder } from '../shared/bytes.ts';
import { type AddressMatcher, compileAllowlist } from '../shared/cidr.ts';
import { MessageTooLargeError, toGroupcastError } from '../shared/errors.ts';
import { formatHostPort } from '../shared/host-port.ts';
import type { HostPort } from '../shared/options/parse.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import { normalizeIp, resolveHost } from './address.ts';
import type { Group } from './group.ts';
import type { HubPort } from './hub-port.ts';
import { UdpMember } from './udp-member.ts';

/** Largest UDP payload over IPv4; bigger TCP/HTTP messages are dropped for UDP members and counted. */
export const MAX_DATAGRAM_BYTES = 65_507;
/** Socket buffers asked of the kernel (it may grant less): bursts queue here, not in the process. */
export const DEFAULT_UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export interface UdpServerOptions {
  prefix: string;
  udpGroup: string;
  maxMessageBytes: number;
  udpPreconfig: readonly HostPort[];
  udpAllow: readonly string[];
  udpRegisteredOnly: boolean;
  udpRegistrationTtlMs: number;
  udpRegistrationsPerIp: number;
  udpSendRate: number;
  rateLimit: number;
  rateBurst: number;
}

/** UDP senders tracked for rate limiting; the least recently seen is forgotten past this. */
export const UDP_RATE_TRACKED_SENDERS = 10_000;

/**
 * The UDP listener. `<prefix><port>` registers the sender's IP with that port; every other
 * datagram is one message of the UDP group, sent to every member but the address it came from.
 */
export class UdpServer {
  readonly #hub: HubPort;
  readonly #opts: UdpServerOptions;
  readonly #prefix: Uint8Array;
  #socket: Socket | null = null;
  #v6 = false;
  /** `ip:port` (as the socket reports it) -> member. */
  readonly #members = new Map<string, UdpMember>();
  #group: Group | null = null;
  readonly #allowed: AddressMatcher;
  /** Registered IPs -> how many registrations each holds (for udpRegisteredOnly). */
  readonly #registeredIps = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  /** Datagrams out, all members together: a burst of a tenth of a second, then the rate. */
  readonly #sendBucket: TokenBucket;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(hub: HubPort, opts: UdpServerOptions) {
    this.#hub = hub;
    this.#opts = opts;
    this.#prefix = textEncoder.encode(opts.prefix);
    this.#allowed = compileAllowlist(opts.udpAllow);
    this.#sendBucket = new TokenBucket(
      opts.udpSendRate,
      Math.max(1, Math.ceil(opts.udpSendRate / 10)),
      Date.now(),
    );
  }

  async listen(host: string, port: number): Promise<string> {
    const ip = isIP(host) ? host : ((await resolveHost(host))[0] ?? host);
    this.#v6 = isIP(ip) === 6;
    const socket = createSocket({
      type: this.#v6 ? 'udp6' : 'udp4',
      recvBufferSize: DEFAULT_UDP_BUFFER_BYTES,
      sendBufferSize: DEFAULT_UDP_BUFFER_BYTES,
    });
    this.#socket = socket;
    socket.on('message', this.#socketOnMessage);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: ip, port }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.#hub.log.warn({ err: err.message }, 'udp socket error'));
    for (const p of this.#opts.udpPreconfig) {
      for (const addr of await resolveHost(p.host))
        this.#register(this.#sendIp(addr), p.port, true);
    }
    const ttl = this.#opts.udpRegistrationTtlMs;
    if (ttl > 0) {
      this.#sweeper = setInterval(() => this.#expire(Date.now() - ttl), Math.max(50, ttl / 4));
      this.#sweeper.unref();
    }
    const a = socket.address();
    const address = formatHostPort(a.address, a.port);
    this.#hub.listeners.udp = { listening: true, address };
    return address;
  }

  /** IPv4 addresses must be written as mapped addresses on a udp6 socket. */
  #sendIp(ip: string): string {
    return this.#v6 && isIP(ip) === 4 ? `::ffff:${ip}` : ip;
  }

  send(payload: Uint8Array, port: number, ip: string): void {
    const socket = this.#socket;
    if (!socket) return;
    if (payload.byteLength > MAX_DATAGRAM_BYTES) {
      this.#hub.drop('too_large_for_udp');
      return;
    }
    if (!this.#sendBucket.take(1, Date.now())) {
      this.#hub.drop('udp_send_rate');
      return;
    }
    this.#hub.sent('udp', 1, payload.byteLength);
    socket.send(payload, port, ip, this.#sent);
  }

  #sent = (err: Error | null): void => {
    if (err) this.#hub.drop('udp_send_error');
  };

  #socketOnMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const key = `${rinfo.address}:${rinfo.port}`;
    if (this.#opts.udpAllow.length > 0 && !this.#allowed(normalizeIp(rinfo.address))) {
      this.#hub.reject('ADDRESS_NOT_ALLOWED');
      return;
    }
    if (this.#isRegistration(msg)) {
      const text = msg.subarray(this.#prefix.byteLength).toString('latin1').trim();
      const port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
      if (port < 1 || port > 65535) {
        this.#hub.reject('BAD_REGISTRATION');
        this.#hub.log.warn({ remote: key, port: text.slice(0, 16) }, 'rejected udp registration');
        return;
      }
      this.#register(rinfo.address, port, false);
      return;
    }
    const origin = this.#members.get(key) ?? null;
    if (origin) origin.seenAt = Date.now();
    else if (this.#opts.udpRegisteredOnly && !this.#registeredIps.has(rinfo.address)) {
      this.#hub.reject('UNREGISTERED');
      return;
    }
    if (this.#opts.rateLimit > 0 && !this.#take(key)) {
      this.#hub.reject('RATE_LIMITED');
      this.#hub.drop('rate_limited');
      return;
    }
    try {
      if (msg.byteLength > this.#opts.maxMessageBytes) {
        throw new MessageTooLargeError(this.#opts.maxMessageBytes);
      }
      const batch = this.#hub.codec.encode([msg]);
      this.#hub.publishBatch(this.#groupNow(), batch, origin, 'udp');
    } catch (err) {
      const e = toGroupcastError(err);
      this.#hub.reject(e.code);
      this.#hub.log.debug({ remote: key, code: e.code }, 'dropped udp datagram');
    }
  };

  /** A token bucket per sender address (bounded: the least recently seen is forgotten). */
  #take(key: string): boolean {
    const now = Date.now();
    let b = this.#buckets.get(key);
    if (b) this.#buckets.delete(key);
    else {
      if (this.#buckets.size >= UDP_RATE_TRACKED_SENDERS)
        this.#buckets.delete(this.#buckets.keys().next().value as string);
      b = new TokenBucket(
        this.#opts.rateLimit,
        this.#opts.rateBurst || this.#opts.rateLimit * 2,
        now,
      );
    }
    this.#buckets.set(key, b);
    return b.take(1, now);
  }

  #expire(before: number): void {
    for (const m of [...this.#members.values()]) {
      if (!m.preconfigured && m.seenAt < before) {
        this.#hub.log.info({ remote: m.remote }, 'udp registration expired');
        this.unregister(m);
      }
    }
  }

  #isRegistration(msg: Uint8Array): boolean {
    const p = this.#prefix;
    if (msg.byteLength < p.byteLength) return false;
    for (let i = 0; i < p.byteLength; i++) if (msg[i] !== p[i]) return false;
    return true;
  }

  #groupNow(): Group {
    if (!this.#group || this.#hub.findGroup(this.#opts.udpGroup) !== this.#group) {
      this.#group = this.#hub.groupFor(this.#opts.udpGroup);
    }
    return this.#group;
  }

  #register(ip: string, port: number, preconfigured: boolean): void {
    const key = `${ip}:${port}`;
    const known = this.#members.get(key);
    if (known) {
      known.seenAt = Date.now();
      return;
    }
    const held = this.#registeredIps.get(ip) ?? 0;
    if (!preconfigured && held >= this.#opts.udpRegistrationsPerIp) {
      // Counted, logged only at debug: a flood of these must not become a flood of log lines.
      this.#hub.reject('TOO_MANY_FROM_ADDRESS');
      this.#hub.log.debug(
        { remote: formatHostPort(normalizeIp(ip), port) },
        'udp registrations per address reached',
      );
      return;
    }
    const member = new UdpMember(this, ip, port, preconfigured);
    try {
      this.#group = this.#hub.join(this.#opts.udpGroup, member);
    } catch (err) {
      const e = toGroupcastError(err);
      this.#hub.reject(e.code);
      this.#hub.log.warn({ remote: member.remote, code: e.code }, 'rejected udp registration');
      return;
    }
    this.#members.set(key, member);
    this.#registeredIps.set(ip, held + 1);
  }

  unregister(member: UdpMember): void {
    for (const [key, m] of this.#members) {
      if (m !== member) continue;
      this.#members.delete(key);
      const left = (this.#registeredIps.get(m.ip) ?? 1) - 1;
      if (left === 0) this.#registeredIps.delete(m.ip);
      else this.#registeredIps.set(m.ip, left);
    }
    if (this.#group) this.#hub.leave(this.#group, member, 'closed');
  }

  get memberCount(): number {
    return this.#members.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    for (const m of [...this.#members.values()]) this.unregister(m);
    const socket = this.#socket;
    this.#socket = null;
    if (this.#hub.listeners.udp) this.#hub.listeners.udp.listening = false;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
