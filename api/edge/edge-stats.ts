/** Plain counters of an edge worker, read when /metrics is scraped. */
export class EdgeStats {
  /** Messages and event-stream bytes received from the sidecar on upstream streams. */
  messagesIn = 0;
  bytesIn = 0;
  /** Messages and event-stream bytes written to edge subscribers (live fan-out). */
  messagesOut = 0;
  bytesOut = 0;
  /** Upstream streams opened, and attempts that failed or streams that broke. */
  upstreamOpens = 0;
  upstreamFailures = 0;
  /** History pages fetched from the sidecar to replay for a new subscriber. */
  replayPages = 0;
  /** Gap events written to edge subscribers, by reason. */
  readonly gaps = new Map<string, number>();
  slowConsumers = 0;
  /** Requests the edge itself refused, by error code. */
  readonly rejected = new Map<string, number>();
  /** Publishes forwarded to the sidecar, and those it refused or could not take, by code. */
  published = 0;
  /** Publish requests sent to the sidecar: fewer than POSTs when POSTs to one group go together. */
  publishRequests = 0;
  readonly publishErrors = new Map<string, number>();

  count(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }
}
