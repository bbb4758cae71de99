import type { Test } from 'uvu';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import { createLogger } from '../../sidecar/logger.ts';
import { type Sidecar, startSidecar } from '../../sidecar/server.ts';
import { baseUrl } from './http.ts';
import { readSeries } from './metrics.ts';
import { testOptions, waitFor } from './sidecar.ts';
import { SseClient } from './sse.ts';
import { TcpPeer } from './tcp.ts';
import { UdpPeer } from './udp.ts';

interface Closeable {
  close(): void;
}

/**
 * One in-process sidecar per test file, plus every peer a test opens, closed after each
 * restart and at the end. `fresh: true` gives every test its own sidecar.
 */
export class SidecarRig {
  sc!: Sidecar;
  options!: SidecarOptions;
  readonly #open: Closeable[] = [];

  constructor(test: Test, { fresh = false, options = {} as Partial<SidecarOptions> } = {}) {
    if (fresh) {
      test.before.each(async () => {
        await this.restart();
      });
    } else {
      test.before(async () => {
        await this.restart(options);
      });
    }
    test.after(async () => {
      this.#closePeers();
      await this.sc?.close();
    });
  }

  #closePeers(): void {
    for (const p of this.#open.splice(0)) p.close();
  }

  async restart(overrides: Partial<SidecarOptions> = {}): Promise<Sidecar> {
    this.#closePeers();
    await this.sc?.close();
    this.options = testOptions(overrides);
    this.sc = await startSidecar(this.options, createLogger(this.options.logLevel));
    return this.sc;
  }

  track<T extends Closeable>(peer: T): T {
    this.#open.push(peer);
    return peer;
  }

  /** One series read from this sidecar's /metrics over HTTP, as a user's scraper reads it. */
  metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return readSeries(baseUrl(this.sc), name, labels);
  }

  count(group: string, transport: 'tcp' | 'udp' | 'sse'): number {
    return this.sc.hub.findGroup(group)?.counts[transport] ?? 0;
  }

  /** A TCP peer that sends a join line (if a group is given) without waiting for it to take. */
  async connect(group?: string): Promise<TcpPeer> {
    return this.track(await TcpPeer.open(this.sc.addresses.tcp as string, group));
  }

  /** A TCP peer that writes `first` (any bytes) as soon as it is connected. */
  async raw(first?: string): Promise<TcpPeer> {
    const p = await this.connect();
    if (first !== undefined) p.write(first);
    return p;
  }

  /** A TCP peer; with a group, joined and counted by the hub before it returns. */
  async tcp(group?: string): Promise<TcpPeer> {
    const before = group === undefined ? 0 : this.count(group, 'tcp');
    const p = this.track(await TcpPeer.open(this.sc.addresses.tcp as string, group));
    if (group !== undefined)
      await waitFor(() => this.count(group, 'tcp') === before + 1, 5000, `a member of ${group}`);
    return p;
  }

  /** n TCP members of a group, all joined. */
  async members(group: string, n: number): Promise<TcpPeer[]> {
    const before = this.count(group, 'tcp');
    const out = await Promise.all(
      Array.from({ length: n }, async () =>
        this.track(await TcpPeer.open(this.sc.addresses.tcp as string, group)),
      ),
    );
    await waitFor(() => this.count(group, 'tcp') === before + n, 5000, `${n} members in ${group}`);
    return out;
  }

  /** A UDP peer; registered (and counted) unless register is false. */
  async udp(register = true): Promise<UdpPeer> {
    const p = this.track(await UdpPeer.open());
    if (register) {
      const group = this.options.udpGroup;
      const before = this.count(group, 'udp');
      await p.register(this.sc.addresses.udp as string);
      await waitFor(() => this.count(group, 'udp') === before + 1, 2000, 'a UDP registration');
    }
    return p;
  }

  /** An SSE subscriber; when the response is 200, counted by the hub before it returns. */
  async sse(group: string, query = '', headers: Record<string, string> = {}): Promise<SseClient> {
    const before = this.count(group, 'sse');
    const c = this.track(
      await SseClient.open(
        `${baseUrl(this.sc)}/groups/${encodeURIComponent(group)}/events${query}`,
        headers,
      ),
    );
    if (c.response.ok)
      await waitFor(() => this.count(group, 'sse') === before + 1, 2000, 'a subscriber');
    return c;
  }
}
