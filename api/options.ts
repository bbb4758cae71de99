export type { ApiOptions } from '../shared/options/api.ts';

/** How long an EventSource waits before reconnecting (sent as `retry:`). */
export const DEFAULT_SSE_RETRY_MS = 2000;
