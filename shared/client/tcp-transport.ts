/**
 * What the TCP client needs from a runtime: one connection with reads, awaited writes and close.
 * Implemented in ~50 lines per runtime (api/client/node-transport.ts with node:net,
 * api/client/deno-transport.ts with Deno.connect); the client logic stays here.
 */

export interface TcpConnectOptions {
  host: string;
  port: number;
  /** Idle time before TCP keepalive probes (where the runtime lets it be set); 0 turns keepalive off. */
  keepAliveMs: number;
}

export interface TcpConnection {
  /** The next bytes received, or null once the peer has closed its side. Rejects on a socket error. */
  read(): Promise<Uint8Array | null>;
  /** Resolves once the runtime has taken all of `bytes`; rejects when the connection failed. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes at once (idempotent); a pending read resolves to null or rejects. */
  close(): void;
}

export type TcpConnect = (options: TcpConnectOptions) => Promise<TcpConnection>;
