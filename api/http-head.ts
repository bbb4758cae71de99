/**
 * A strict reader of one HTTP/1.1 request head, for the raw front (node-http-front.ts). It does
 * not judge heads: it recognises the one shape the front serves itself, and says "not mine" for
 * everything else, which then goes to node:http as it came, so node:http keeps every answer it
 * gives today (400, 413, 431, ...). Being narrower than HTTP is always safe here; being wider
 * never is.
 */
import { PLAIN_SEGMENT_CHARS } from './dot-segments.ts';

/** `POST /groups/<plain segment>/messages HTTP/1.1`, the segment as node-publish.ts allows it. */
const REQUEST_LINE = new RegExp(`^POST /groups/([${PLAIN_SEGMENT_CHARS}]+)/messages HTTP/1\\.1$`);
/** The start every request the front could take shares, to let other requests go at once. */
const START = 'POST /groups/';
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
): FrontHead | typeof MORE | typeof NOT_MINE {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.byteLength >= maxHead) return NOT_MINE;
    const seen = Math.min(buf.byteLength, START.length);
    if (buf.toString('latin1', 0, seen) !== START.slice(0, seen)) return NOT_MINE;
    // A head that can no longer be one the front takes goes now, not when it ends: a head
    // with bare LFs never ends with CRLF CRLF, and node:http answers it at once.
    let text = buf.toString('latin1');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (UNSURE.test(text)) return NOT_MINE;
    const eol = text.indexOf('\r\n');
    return eol < 0 || REQUEST_LINE.test(text.slice(0, eol)) ? MORE : NOT_MINE;
  }
  const size = end + 4;
  if (size > maxHead) return NOT_MINE;
  const text = buf.toString('latin1', 0, end + 2);
  if (UNSURE.test(text)) return NOT_MINE;
  const lines = text.split('\r\n');
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
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return NOT_MINE;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return NOT_MINE;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    switch (name.toLowerCase()) {
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
