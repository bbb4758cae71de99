import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, GroupcastError, toGroupcastError } from '../shared/errors.ts';

/** The one place error codes become HTTP statuses. */
export const HTTP_STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID_GROUP_ID: 400,
  BAD_JOIN: 400,
  JOIN_TIMEOUT: 408,
  MESSAGE_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  EMPTY_MESSAGE: 400,
  UNFRAMEABLE: 400,
  INVALID_NDJSON: 400,
  TOO_MANY_MESSAGES: 413,
  BAD_REQUEST: 400,
  GROUP_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ADDRESS_NOT_ALLOWED: 403,
  RATE_LIMITED: 429,
  TOO_MANY_FROM_ADDRESS: 429,
  SLOW_CONSUMER: 503,
  GROUP_BUSY: 503,
  OVER_BUDGET: 503,
  TOO_MANY_CONNECTIONS: 503,
  TOO_MANY_GROUPS: 503,
  GROUP_FULL: 503,
  INVALID_OPTION: 500,
  CANNOT_LISTEN: 500,
  UPSTREAM_UNAVAILABLE: 502,
  BACKPLANE_BUSY: 503,
  // RESP-port codes: sent to Redis clients, never by the HTTP API; mapped for completeness.
  TOO_MANY_SUBSCRIPTIONS: 429,
  TOO_MANY_PATTERNS: 503,
  RESP_PROTOCOL: 400,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
  // Client-side codes: never produced by the API itself, mapped for completeness.
  UNREACHABLE: 502,
  REMOTE_ERROR: 502,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** Refusals that pass once the hub has drained: the client is told when to try again (seconds). */
export const RETRY_AFTER: Partial<Record<ErrorCode, string>> = {
  GROUP_BUSY: '1',
  OVER_BUDGET: '1',
  BACKPLANE_BUSY: '1',
};

/** An error's answer: status, JSON body and Retry-After (if any), for any server. */
export function errorReply(err: unknown): {
  status: ContentfulStatusCode;
  body: ErrorBody;
  retryAfter: string | undefined;
} {
  const e = toGroupcastError(err);
  return {
    status: HTTP_STATUS[e.code],
    body: { error: { code: e.code, message: e.message } },
    retryAfter: RETRY_AFTER[e.code],
  };
}

export function errorResponse(c: Context, err: unknown): Response {
  const { status, body, retryAfter } = errorReply(err);
  if (retryAfter) c.header('Retry-After', retryAfter);
  return c.json(body, status);
}

export { GroupcastError };
