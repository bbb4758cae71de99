/**
 * The options the HTTP/SSE API reads. A base, not a copy: SidecarOptions and EdgeOptions extend
 * it, so a limit the API gains is one field here that both processes must then supply.
 */

/** Which credentials the API accepts; none set = auth off. */
export interface AuthOptions {
  jwtSecret: string | null;
  /** PEM text of an RS256 or ES256 public key. */
  jwtPublicKey: string | null;
  jwtJwksUrl: string | null;
  jwtIssuer: string | null;
  jwtAudience: string | null;
  apiKeys: readonly string[];
}

export interface ApiOptions extends AuthOptions {
  maxMessageBytes: number;
  maxBodyBytes: number;
  maxBatchMessages: number;
  heartbeatMs: number;
  sseQueueBytes: number;
  corsOrigins: string[];
  httpAllow: string[];
  maxSsePerIp: number;
  rateLimit: number;
  rateBurst: number;
  /** Absent means off: /healthz answers 503 only when the node is down, not when degraded. */
  healthStrict?: boolean;
  /** Absent means on. */
  dashboard?: boolean;
}
