import type { Proc } from '../procs.ts';

export interface Endpoint {
  host: string;
  port: number;
}

/** How a TCP client joins a group and reads its messages on this server. */
export type StreamProtocol = 'line' | 'redis' | 'nats';
/** Whose HTTP publish / SSE subscribe routes a server has. */
export type HttpFlavor = 'groupcast' | 'nchan' | 'node';

/** A server the benchmark started, with the endpoints it serves. */
export interface Running {
  readonly name: string;
  /** Every process of the server (for CPU and memory). */
  readonly procs: Proc[];
  readonly tcp?: { addr: Endpoint; protocol: StreamProtocol };
  readonly udp?: Endpoint;
  readonly http?: { addr: Endpoint; flavor: HttpFlavor };
  stop(): Promise<void>;
}

export interface TargetSpec {
  readonly name: string;
  /** Null when it can run here, else why it is skipped. */
  unavailable(): string | null;
  start(opts?: StartOptions): Promise<Running>;
}

export interface StartOptions {
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** Directory for a V8 CPU profile of the server (groupcast only). */
  profileDir?: string;
  /**
   * Node baselines run as plain JavaScript (their TypeScript transpiled once), as groupcast runs
   * from its bundle, instead of through tsx: the memory rows. A process that loaded tsx has its
   * heap already grown by the compiler, so its growth per member reads low (0.5-0.9 KiB).
   */
  plainJs?: boolean;
}

export const LOCALHOST = '127.0.0.1';
