import type { SidecarOptions } from '../shared/options/sidecar.ts';
import type { AuthOptions } from './auth.ts';

/** What the HTTP/SSE API needs to know; the sidecar and the edge worker both provide it. */
export type ApiOptions = Pick<
  SidecarOptions,
  | 'maxMessageBytes'
  | 'maxBodyBytes'
  | 'maxBatchMessages'
  | 'heartbeatMs'
  | 'sseQueueBytes'
  | 'corsOrigins'
  | 'httpAllow'
  | 'maxSsePerIp'
  | 'rateLimit'
  | 'rateBurst'
> &
  AuthOptions &
  Partial<Pick<SidecarOptions, 'healthStrict'>> &
  /** Absent means on. */
  Partial<Pick<SidecarOptions, 'dashboard'>>;

/** How long an EventSource waits before reconnecting (sent as `retry:`). */
export const DEFAULT_SSE_RETRY_MS = 2000;
