import { resolveSidecarOptions, type SidecarOptions } from '../../shared/options/sidecar.ts';
import { createLogger } from '../../sidecar/logger.ts';
import { type Sidecar, startSidecar } from '../../sidecar/server.ts';

/** Options for an in-process sidecar on free ports, quiet unless TEST_LOG is set. */
export function testOptions(overrides: Partial<SidecarOptions> = {}): SidecarOptions {
  const base = resolveSidecarOptions({}, []).options;
  return {
    ...base,
    host: '127.0.0.1',
    tcpPort: 0,
    udpPort: 0,
    httpPort: 0,
    logLevel: (process.env.TEST_LOG as SidecarOptions['logLevel']) ?? 'silent',
    ...overrides,
  };
}

/** A real sidecar in this process, on real sockets. */
export async function startTestSidecar(overrides: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  const options = testOptions(overrides);
  return startSidecar(options, createLogger(options.logLevel));
}

export function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return {
    host: address.slice(0, at).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(at + 1)),
  };
}

/** Polls until fn returns true (or a truthy value) or the deadline passes. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  ms = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
