/**
 * A strict reader of one HTTP/1.1 request head, for the raw front (node-http-front.ts). It does
 * not judge heads: it recognises the two shapes the front serves itself (a publish POST and an
 * SSE subscription's GET), and says "not mine" for
 * everything else, which then goes to node:http as it came, so node:http keeps every answer it
 * gives today (400, 413, 431, ...). Being narrower than HTTP is always safe here; being wider
 * never is.
 */
import { PLAIN_SEGMENT_CHARS } from './dot-segments.ts';
import { SUBSCRIBE_QUERY } from './subscribe.ts';

/** `POST /groups/<plain segment>/messages HTTP/1.1`, the segment as node-publish.ts allows it. */
const REQUEST_LINE = new RegExp(`^POST /groups/([${PLAIN_SEGMENT_CHARS}]+)/messages HTTP/1\\.1$`);
/** `GET /groups/<plain segment>/events[?query] HTTP/1.1`; the query is checked on its own. */
const GET_LINE = new RegExp(
  `^GET /groups/([${PLAIN_SEGMENT_CHARS}]+)/events(?:\\?([^ ]*))? HTTP/1\\.1$`,
);
/**
 * A body-less request node:http answers while the connection stays the front's (see
 * FrontLendHead): GET or HEAD of a path (origin form: no scheme, host or `*`) whose last segment
 * is not `events`, so streams never go this way. Other methods may come with a body.
 */
const LEND_LINE = /^(?:GET|HEAD) \/[!-~]* HTTP\/1\.1$/;
const STREAM_PATH = /\/events(?:\?|$)/;
/** The starts the requests the front could take share, to let other requests go at once. */
const STARTS = ['POST /groups/', 'GET /', 'HEAD /'];
/**
 * A query value taken as written: nothing a URL parser or the app's query reader would decode or
 * re-encode (no `%`, `+`, `=`, `&`, `#`, `/`).
 */
const QUERY_VALUE = /^[A-Za-z0-9._~!$'()*,;:@-]*$/;
/**
 * A Host the app's Node adapter takes as it is (it re-parses the URL with others, and refuses some
 * of them): a lower-case name or address, and a port of 4 or 5 digits from 1000 to 59999; or an
 * IPv4 address or `localhost` with any port up to 65535 (the URL parser keeps those as written).
 */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5][0-9]{3,4}|[6-9][0-9]{3}))?$/;
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const LOOPBACK_OR_IPV4 = new RegExp(
  `^(?:localhost|${OCTET}(?:\\.${OCTET}){3}):(?:6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`,
);
/**
 * Any byte a strict parser might refuse or read differently: controls but HTAB, DEL, bytes past
 * ASCII, a CR not before LF, an LF not after CR, a line folded onto the one before (obs-fold).
 */
const UNSURE = /[^\t\r\n\x20-\x7e]|\r(?!\n)|(?<!\r)\n|\n[ \t]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DIGITS = /^[0-9]{1,15}$/;
/** More header lines than a client of this route sends: leave such a head to node:http. */
const MAX_HEADER_LINES = 64;

/** What the front needs of a head it takes. */
export interface FrontHead {
  /** Bytes of the head, its blank line included. */
  size: number;
  group: string;
  contentLength: string;
  contentType: string | undefined;
  authorization: string | undefined;
  /** `Connection: close` was asked. */
  close: boolean;
}

/** What the front needs of an SSE subscription's GET it takes. */
export interface FrontGetHead {
  /** Bytes of the head, its blank line included. */
  size: number;
  get: true;
  group: string;
  /** The query's parameters, each at most once, values as written (nothing to decode). */
  query: Map<string, string>;
  lastEventId: string | undefined;
  authorization: string | undefined;
  /** A Cookie header came (with auth on, the token may be in it: the app reads it). */
  cookie: boolean;
}

/**
 * A request the front lends to node:http, one request at a time: a GET or HEAD with no body and
 * nothing that would end or change the connection. node:http answers it (health, history,
 * listings, the dashboard); then the connection is the front's again, so a client's next request
 * on it (an SSE stream, a POST) is the front's to take, as on a new connection.
 */
export interface FrontLendHead {
  /** Bytes of the head, its blank line included. */
  size: number;
  lend: true;
}

/** The head is not complete yet, and may still be one the front takes. */
export const MORE = 0;
/** The request is not one the front takes: node:http gets it as it came. */
export const NOT_MINE = 1;

/**
 * Reads the head at the start of `buf` (`maxHead` bytes at most). Takes only: the request line
 * above, exactly one Host, exactly one Content-Length of digits, at most one Content-Type and
 * Authorization, no Transfer-Encoding, Expect or Upgrade, Connection absent, `keep-alive` or
 * `close`, header names that are tokens and values of visible ASCII, spaces and tabs.
 */
export function readFrontHead(
  buf: Buffer,
  maxHead: number,
): FrontHead | FrontGetHead | FrontLendHead | typeof MORE | typeof NOT_MINE {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.byteLength >= maxHead) return NOT_MINE;
    const start = buf.toString('latin1', 0, Math.min(buf.byteLength, 13));
    if (!STARTS.some((s) => s.startsWith(start) || start.startsWith(s))) return NOT_MINE;
    // A head that can no longer be one the front takes goes now, not when it ends: a head
    // with bare LFs never ends with CRLF CRLF, and node:http answers it at once.
    let text = buf.toString('latin1');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (UNSURE.test(text)) return NOT_MINE;
    const eol = text.indexOf('\r\n');
    if (eol < 0) return MORE;
    const line = text.slice(0, eol);
    return REQUEST_LINE.test(line) || GET_LINE.test(line) || LEND_LINE.test(line) ? MORE : NOT_MINE;
  }
  const size = end + 4;
  if (size > maxHead) return NOT_MINE;
  const text = buf.toString('latin1', 0, end + 2);
  if (UNSURE.test(text)) return NOT_MINE;
  const lines = text.split('\r\n');
  if (lines[0].startsWith('GET ')) {
    const get = readGetHead(lines, size);
    return get === NOT_MINE ? readLendHead(lines, size) : get;
  }
  if (lines[0].startsWith('HEAD ')) return readLendHead(lines, size);
  const request = REQUEST_LINE.exec(lines[0]);
  if (!request) return NOT_MINE;
  // The last element is the empty string after the final CRLF.
  const count = lines.length - 2;
  if (count > MAX_HEADER_LINES) return NOT_MINE;
  let hosts = 0;
  let contentLength: string | undefined;
  let contentType: string | undefined;
  let authorization: string | undefined;
  let close = false;
  for (let i = 1; i <= count; i++) {
    const name = fieldName(lines[i]);
    if (name === null) return NOT_MINE;
    const value = fieldValue;
    switch (name) {
      case 'host':
        hosts++;
        break;
      case 'content-length':
        if (contentLength !== undefined || !DIGITS.test(value)) return NOT_MINE;
        contentLength = value;
        break;
      case 'content-type':
        if (contentType !== undefined) return NOT_MINE;
        contentType = value;
        break;
      case 'authorization':
        if (authorization !== undefined) return NOT_MINE;
        authorization = value;
        break;
      case 'connection': {
        const v = value.toLowerCase();
        if (v === 'close') close = true;
        else if (v !== 'keep-alive') return NOT_MINE;
        break;
      }
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
        return NOT_MINE;
    }
  }
  if (hosts !== 1 || contentLength === undefined) return NOT_MINE;
  return { size, group: request[1], contentLength, contentType, authorization, close };
}

/** The value of the field fieldName last read (a scratch slot: no pair allocated per line). */
let fieldValue = '';

/**
 * A header line's name, lower-cased, with its value (trimmed of spaces and tabs) left in
 * fieldValue; null when the line is no `token: value` field, or its value has a tab after it.
 */
function fieldName(line: string): string | null {
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return null;
  let from = colon + 1;
  let to = line.length;
  while (from < to && isBlank(line.charCodeAt(from))) from++;
  while (to > from && isBlank(line.charCodeAt(to - 1))) to--;
  // node:http reads a value with a tab after it its own way (a Content-Length so written is
  // refused with 400, a Connection's `close` is missed): such a line is no field the front takes.
  if (to < line.length && line.indexOf('\t', to) >= 0) return null;
  fieldValue = line.slice(from, to);
  return name.toLowerCase();
}

/** A space or a tab: what a field value is trimmed of. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * `GET /groups/:group/events` as the front takes it: the query's parameters only those the route
 * reads, each once, with values that decode to themselves; exactly one Host the adapter takes as
 * it is; at most one Last-Event-ID and Authorization; no body (Content-Length, Transfer-Encoding),
 * no Expect or Upgrade; Connection absent or `keep-alive` (a stream that never ends has no use for
 * `close`, so node:http keeps that case).
 */
function readGetHead(lines: string[], size: number): FrontGetHead | typeof NOT_MINE {
  const request = GET_LINE.exec(lines[0]);
  if (!request) return NOT_MINE;
  const query = readQuery(request[2]);
  if (query === null) return NOT_MINE;
  const count = lines.length - 2;
  if (count > MAX_HEADER_LINES) return NOT_MINE;
  let hosts = 0;
  let lastEventId: string | undefined;
  let authorization: string | undefined;
  let cookie = false;
  for (let i = 1; i <= count; i++) {
    const name = fieldName(lines[i]);
    if (name === null) return NOT_MINE;
    const value = fieldValue;
    switch (name) {
      case 'host':
        if (++hosts > 1 || !(PLAIN_HOST.test(value) || LOOPBACK_OR_IPV4.test(value))) {
          return NOT_MINE;
        }
        break;
      case 'last-event-id':
        if (lastEventId !== undefined) return NOT_MINE;
        lastEventId = value;
        break;
      case 'authorization':
        if (authorization !== undefined) return NOT_MINE;
        authorization = value;
        break;
      case 'cookie':
        cookie = true;
        break;
      default:
        if (notOnGet(name, value)) return NOT_MINE;
    }
  }
  if (hosts !== 1) return NOT_MINE;
  return { size, get: true, group: request[1], query, lastEventId, authorization, cookie };
}

/**
 * A GET or HEAD the front lends to node:http (see FrontLendHead): LEND_LINE, exactly one Host, no
 * body (Content-Length, Transfer-Encoding), no Expect or Upgrade, Connection absent or
 * `keep-alive`; anything else goes to node:http for good, as before.
 */
function readLendHead(lines: string[], size: number): FrontLendHead | typeof NOT_MINE {
  if (!LEND_LINE.test(lines[0]) || STREAM_PATH.test(lines[0].slice(0, lines[0].lastIndexOf(' ')))) {
    return NOT_MINE;
  }
  const count = lines.length - 2;
  if (count > MAX_HEADER_LINES) return NOT_MINE;
  let hosts = 0;
  for (let i = 1; i <= count; i++) {
    const name = fieldName(lines[i]);
    if (name === null) return NOT_MINE;
    if (name === 'host') hosts++;
    else if (notOnGet(name, fieldValue)) return NOT_MINE;
  }
  return hosts === 1 ? { size, lend: true } : NOT_MINE;
}

/**
 * A field a GET the front takes or lends must not have: a body (Content-Length,
 * Transfer-Encoding), Expect, Upgrade, or a Connection other than `keep-alive`.
 */
function notOnGet(name: string, value: string): boolean {
  switch (name) {
    case 'connection':
      return value.toLowerCase() !== 'keep-alive';
    case 'content-length':
    case 'transfer-encoding':
    case 'expect':
    case 'upgrade':
      return true;
  }
  return false;
}

const QUERY_NAMES: readonly string[] = SUBSCRIBE_QUERY;

/** A query's parameters, or null if it holds anything but the route's, once each, plainly written. */
function readQuery(raw: string | undefined): Map<string, string> | null {
  const out = new Map<string, string>();
  if (raw === undefined || raw === '') return out;
  for (const part of raw.split('&')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (!QUERY_NAMES.includes(name) || out.has(name) || !QUERY_VALUE.test(value)) return null;
    out.set(name, value);
  }
  return out;
}
