import type { Transport } from '../shared/message.ts';

export interface TransportStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/**
 * Plain counters on the hot path; prom-client reads them only when /metrics is scraped, so a
 * delivery costs two additions, not a labelled counter lookup.
 */
export class Stats {
  readonly byTransport: Record<Transport, TransportStats> = {
    tcp: blank(),
    udp: blank(),
    sse: blank(),
    http: blank(),
    resp: blank(),
  };
  readonly rejected = new Map<string, number>();
  /** TCP connections accepted from the kernel, refused ones included. */
  readonly accepted = { tcp: 0, resp: 0 };
  readonly slowConsumers: Record<'tcp' | 'sse' | 'resp', number> = { tcp: 0, sse: 0, resp: 0 };
  /** Messages that could not reach a transport (too big for a datagram, unframeable). */
  readonly dropped = new Map<string, number>();

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  drop(reason: string, n = 1): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
  }
}

function blank(): TransportStats {
  return { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
}
