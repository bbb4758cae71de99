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
    respPort: 0,
    logLevel: (process.env.TEST_LOG as SidecarOptions['logLevel']) ?? 'silent',
    ...overrides,
  };
}

/** A real sidecar in this process, on real sockets. */
export async function startTestSidecar(overrides: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  // A sidecar loads its HTTP adapter on the first request its app answers (about 100 ms, more on
  // a busy machine; test/sidecar/lazy-start.test.ts covers that request). Loaded once here, the
  // in-process sidecars of a test file answer their first request as promptly as the rest.
  await import('../../api/node-adapter.ts');
  const options = testOptions(overrides);
  return startSidecar(options, createLogger(options.logLevel));
}

/** A sidecar with the raw HTTP front off, the same options otherwise, for side-by-side answers. */
export async function withFrontOff<T>(
  overrides: Partial<SidecarOptions>,
  work: (off: Sidecar) => Promise<T>,
): Promise<T> {
  const off = await startTestSidecar({ ...overrides, httpFront: false });
  try {
    return await work(off);
  } finally {
    await off.close();
  }
}

export { hostPort, sleep, waitFor } from './common.ts';
