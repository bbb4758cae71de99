import { PromText } from '../../shared/prometheus.ts';
import type { RemoteHub } from './remote-hub.ts';

/** Prometheus text for an edge worker: its subscribers, its upstream streams and its traffic. */
export function renderEdgeMetrics(hub: RemoteHub): string {
  const s = hub.stats;
  const states = hub.upstreamStates();
  const byKey = (m: Map<string, number>, label: string) =>
    [...m].map(([k, value]) => ({ labels: { [label]: k }, value }));
  return new PromText()
    .metric(
      'groupcast_edge_subscribers',
      'gauge',
      'SSE subscribers of this edge worker',
      hub.subscribers,
    )
    .metric(
      'groupcast_edge_upstreams',
      'gauge',
      'Upstream SSE streams to the sidecar (one per group with subscribers), by state',
      Object.entries(states).map(([state, value]) => ({ labels: { state }, value })),
    )
    .metric(
      'groupcast_edge_upstream_opens_total',
      'counter',
      'Upstream streams opened, reconnections included',
      s.upstreamOpens,
    )
    .metric(
      'groupcast_edge_publish_requests_total',
      'counter',
      'Publish requests sent to the sidecar (POSTs that meet a busy group go together in one)',
      s.publishRequests,
    )
    .metric(
      'groupcast_edge_upstream_failures_total',
      'counter',
      'Upstream connection attempts that failed and open streams that broke',
      s.upstreamFailures,
    )
    .metric(
      'groupcast_edge_replay_pages_total',
      'counter',
      'History pages read from the sidecar to replay for new subscribers',
      s.replayPages,
    )
    .metric(
      'groupcast_messages_in_total',
      'counter',
      'Messages received from the sidecar, by transport',
      [{ labels: { transport: 'upstream' }, value: s.messagesIn }],
    )
    .metric(
      'groupcast_bytes_in_total',
      'counter',
      'Event-stream bytes received from the sidecar, by transport',
      [{ labels: { transport: 'upstream' }, value: s.bytesIn }],
    )
    .metric(
      'groupcast_messages_out_total',
      'counter',
      'Messages delivered to edge subscribers, by transport',
      [{ labels: { transport: 'sse' }, value: s.messagesOut }],
    )
    .metric(
      'groupcast_bytes_out_total',
      'counter',
      'Event-stream bytes delivered to edge subscribers, by transport',
      [{ labels: { transport: 'sse' }, value: s.bytesOut }],
    )
    .metric(
      'groupcast_edge_gaps_total',
      'counter',
      'Gap events sent to edge subscribers, by reason',
      byKey(s.gaps, 'reason'),
    )
    .metric(
      'groupcast_rejected_total',
      'counter',
      'Requests refused, by reason (error code)',
      byKey(s.rejected, 'reason'),
    )
    .metric(
      'groupcast_slow_consumer_disconnects_total',
      'counter',
      'Members cut because they fell behind their queue limit',
      [{ labels: { transport: 'sse' }, value: s.slowConsumers }],
    )
    .metric(
      'groupcast_edge_published_total',
      'counter',
      'Messages published through this edge worker',
      s.published,
    )
    .metric(
      'groupcast_edge_publish_errors_total',
      'counter',
      'Publishes refused by the sidecar or not delivered to it, by error code',
      byKey(s.publishErrors, 'code'),
    )
    .toString();
}
