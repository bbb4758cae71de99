/**
 * Every failure groupcast reports has a stable code. HTTP maps codes to statuses in one place
 * (api/errors.ts); raw sockets get `ERROR <CODE> <message>` and are closed.
 */
export const ERROR_CODES = {
  INVALID_GROUP_ID: 'group id is not 1-200 bytes of UTF-8 without control characters or whitespace',
  BAD_JOIN: 'first line of a TCP connection is not <prefix><group>',
  JOIN_TIMEOUT: 'no join line within the join timeout',
  MESSAGE_TOO_LARGE: 'message is larger than maxMessageBytes',
  BODY_TOO_LARGE: 'request body is larger than maxBodyBytes',
  EMPTY_MESSAGE: 'message body is empty',
  UNFRAMEABLE: 'message cannot be framed for TCP members (a newline inside, in line framing)',
  INVALID_NDJSON: 'NDJSON batch is malformed; nothing from it was published',
  TOO_MANY_MESSAGES:
    'NDJSON batch has more messages than maxBatchMessages; nothing from it was published',
  BAD_REQUEST: 'a query parameter has a bad value',
  GROUP_NOT_FOUND: 'no such group',
  NOT_FOUND: 'no such route',
  METHOD_NOT_ALLOWED: 'method not allowed on this route',
  UNAUTHORIZED: 'no credentials, or bad or expired ones (a token, an API key, a join secret)',
  FORBIDDEN: 'the credentials do not allow this on this group',
  ADDRESS_NOT_ALLOWED: 'the source address is not in the allowlist',
  RATE_LIMITED: 'too many messages; the rate limit drops or disconnects past it',
  TOO_MANY_FROM_ADDRESS: 'too many connections or streams from one source address',
  SLOW_CONSUMER:
    'member took none of its unsent bytes for the stall timeout, or passed its hard queue limit, and was disconnected',
  GROUP_BUSY:
    'a recipient of the group is over its high-water mark and did not drain within the publish wait; nothing was published',
  OVER_BUDGET: 'the memory budget is used up even after history gave way; retry later',
  TOO_MANY_CONNECTIONS: 'connection limit reached',
  TOO_MANY_GROUPS: 'group limit reached',
  GROUP_FULL: 'member limit of the group reached',
  INVALID_OPTION: 'an option has a bad value',
  CANNOT_LISTEN:
    'a listener cannot bind its address (in use, not on this machine, or not permitted)',
  UPSTREAM_UNAVAILABLE: 'the sidecar behind this edge worker cannot be reached',
  BACKPLANE_BUSY: 'too much is waiting for Redis to be shared; retry later',
  TOO_MANY_SUBSCRIPTIONS:
    'a RESP connection would hold more channels and patterns than respMaxSubscriptions',
  TOO_MANY_PATTERNS: 'the sidecar holds respMaxPatterns pattern subscriptions already',
  RESP_PROTOCOL: 'a RESP client sent bytes that are not the Redis protocol; it was disconnected',
  SHUTTING_DOWN: 'the server is shutting down',
  INTERNAL: 'unexpected internal error',
  UNREACHABLE: 'a client cannot reach the server (reported by clients, never sent by a server)',
  REMOTE_ERROR: 'the server answered with an error code this client does not know',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class: `code` is stable and documented; `message` is for humans. */
export class GroupcastError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string = ERROR_CODES[code]) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidGroupIdError extends GroupcastError {
  constructor(reason: string) {
    super('INVALID_GROUP_ID', `invalid group id: ${reason}`);
  }
}

export class BadJoinError extends GroupcastError {
  constructor(message: string) {
    super('BAD_JOIN', message);
  }
}

export class JoinTimeoutError extends GroupcastError {
  constructor(ms: number) {
    super('JOIN_TIMEOUT', `no join line within ${ms} ms`);
  }
}

export class MessageTooLargeError extends GroupcastError {
  readonly limit: number;
  constructor(limit: number, what = 'message') {
    super(
      what === 'body' ? 'BODY_TOO_LARGE' : 'MESSAGE_TOO_LARGE',
      `${what} is larger than ${limit} bytes`,
    );
    this.limit = limit;
  }
}

export class EmptyMessageError extends GroupcastError {
  constructor() {
    super('EMPTY_MESSAGE', 'message is empty');
  }
}

export class UnframeableError extends GroupcastError {
  constructor(message: string) {
    super('UNFRAMEABLE', message);
  }
}

export class InvalidNdjsonError extends GroupcastError {
  constructor(message: string) {
    super('INVALID_NDJSON', message);
  }
}

export class TooManyMessagesError extends GroupcastError {
  constructor(limit: number) {
    super('TOO_MANY_MESSAGES', `more than ${limit} messages in one request`);
  }
}

export class GroupNotFoundError extends GroupcastError {
  constructor(group: string) {
    super('GROUP_NOT_FOUND', `no group named ${JSON.stringify(group)}`);
  }
}

export class UnauthorizedError extends GroupcastError {
  constructor(message = 'missing or invalid credentials') {
    super('UNAUTHORIZED', message);
  }
}

export class ForbiddenError extends GroupcastError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export class SlowConsumerError extends GroupcastError {
  /** `stalledMs`: cut for taking nothing for that long; otherwise for passing `limit`. */
  constructor(pending: number, limit: number, stalledMs?: number) {
    super(
      'SLOW_CONSUMER',
      stalledMs === undefined
        ? `${pending} bytes pending, limit ${limit}`
        : `took none of its ${pending} unsent bytes for ${stalledMs} ms`,
    );
  }
}

export class GroupBusyError extends GroupcastError {
  constructor(waitedMs: number) {
    super(
      'GROUP_BUSY',
      `a recipient of the group did not drain within ${waitedMs} ms; nothing was published, retry later`,
    );
  }
}

export class OverBudgetError extends GroupcastError {
  constructor(limit: number) {
    super('OVER_BUDGET', `the memory budget (${limit} bytes) is used up; retry later`);
  }
}

export class LimitError extends GroupcastError {
  constructor(
    code:
      | 'TOO_MANY_CONNECTIONS'
      | 'TOO_MANY_GROUPS'
      | 'GROUP_FULL'
      | 'TOO_MANY_FROM_ADDRESS'
      | 'TOO_MANY_SUBSCRIPTIONS'
      | 'TOO_MANY_PATTERNS',
    limit: number,
  ) {
    super(code, `${ERROR_CODES[code]} (${limit})`);
  }
}

export class InvalidOptionError extends GroupcastError {
  readonly option: string;
  constructor(option: string, value: unknown, expected: string) {
    super('INVALID_OPTION', `invalid value for ${option}: ${JSON.stringify(value)} (${expected})`);
    this.option = option;
  }
}

/** A listener could not bind: names the option that chose the address, so a user knows what to change. */
export class CannotListenError extends GroupcastError {
  readonly option: string;
  constructor(option: string, address: string, reason: string) {
    super('CANNOT_LISTEN', `cannot listen on ${address} (${option}): ${reason}`);
    this.option = option;
  }
}

export class UpstreamError extends GroupcastError {
  constructor(message: string) {
    super('UPSTREAM_UNAVAILABLE', message);
  }
}

export class BackplaneBusyError extends GroupcastError {
  constructor(limit: number) {
    super('BACKPLANE_BUSY', `more than ${limit} bytes are waiting for Redis; retry later`);
  }
}

/** A client could not reach the server, or lost it and gave up. */
export class UnreachableError extends GroupcastError {
  constructor(message: string) {
    super('UNREACHABLE', message);
  }
}

/**
 * An error a server reported to a client: an HTTP error answer, or an `ERROR <CODE>` line on a
 * raw TCP socket. `code` is the server's code when this client knows it (else REMOTE_ERROR);
 * `remoteCode` is always the server's own, so codes added to a newer server stay visible.
 */
export class RemoteError extends GroupcastError {
  /** HTTP status, or 0 for a TCP error line. */
  readonly status: number;
  readonly remoteCode: string;
  constructor(status: number, remoteCode: string, message: string) {
    super(remoteCode in ERROR_CODES ? (remoteCode as ErrorCode) : 'REMOTE_ERROR', message);
    this.status = status;
    this.remoteCode = remoteCode;
  }
}

/** Wraps anything thrown into a GroupcastError without losing a code that is already there. */
export function toGroupcastError(err: unknown): GroupcastError {
  if (err instanceof GroupcastError) return err;
  return new GroupcastError('INTERNAL', err instanceof Error ? err.message : String(err));
}
