export {
  Backoff,
  type BackoffOptions,
  DEFAULT_BACKOFF_FACTOR,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_JITTER,
  DEFAULT_BACKOFF_MAX_MS,
} from '../backoff.ts';
export { DEFAULT_URL, HttpClient, type HttpClientOptions, type TokenSource } from './http.ts';
export {
  DEFAULT_SUBSCRIBE_IDLE_TIMEOUT_MS,
  type GapEvent,
  type MessageEvent,
  type SubscribeOptions,
  Subscription,
  type SubscriptionEvent,
  type SubscriptionStatus,
} from './subscription.ts';
export {
  DEFAULT_TCP_CLIENT_BUFFER_BYTES,
  DEFAULT_TCP_CLIENT_CLOSE_FLUSH_MS,
  DEFAULT_TCP_CLIENT_KEEPALIVE_MS,
  DEFAULT_TCP_CLIENT_WRITE_TIMEOUT_MS,
  TcpClient,
  type TcpClientOptions,
  type TcpClientStatus,
} from './tcp.ts';
export type { TcpConnect, TcpConnection, TcpConnectOptions } from './tcp-transport.ts';
