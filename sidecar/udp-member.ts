import { nanoid } from 'nanoid';
import { formatHostPort } from '../shared/host-port.ts';
import type { Batch } from '../shared/message.ts';
import { normalizeIp } from './address.ts';
import type { Member } from './member.ts';

/** What a UDP member needs of its server: sending a datagram, and being forgotten. */
export interface UdpSender {
  send(payload: Uint8Array, port: number, ip: string): void;
  unregister(member: UdpMember): void;
}

/** A registered UDP address: every message of the UDP group is sent to it as one datagram. */
export class UdpMember implements Member {
  readonly transport = 'udp' as const;
  readonly needsIds = false;
  readonly id = nanoid(10);
  readonly joinedAt = Date.now();
  readonly remote: string;
  /** Datagrams go to the kernel at once: nothing waits here, so it never holds a group back. */
  readonly pendingBytes = 0;
  over = false;
  detached = false;
  /** Set on registration and on every datagram from exactly this address; a TTL counts from it. */
  seenAt = Date.now();
  readonly ip: string;
  groupSlot = -1;
  readonly #server: UdpSender;
  readonly #port: number;

  constructor(server: UdpSender, ip: string, port: number, preconfigured: boolean) {
    this.#server = server;
    this.ip = ip;
    this.#port = port;
    this.remote = formatHostPort(normalizeIp(ip), port);
    this.preconfigured = preconfigured;
  }

  /** Preconfigured addresses never expire. */
  readonly preconfigured: boolean;

  joined(): void {}

  left(): void {}

  deliver(batch: Batch): void {
    for (let i = 0; i < batch.count; i++) this.#server.send(batch.payload(i), this.#port, this.ip);
  }

  progress(): boolean {
    return true;
  }

  close(): void {
    this.#server.unregister(this);
  }
}
