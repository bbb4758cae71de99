import { InvalidGroupIdError } from './errors.ts';

/** @default 200 */
export const MAX_GROUP_ID_BYTES = 200;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Control characters (C0, DEL, C1) and every Unicode whitespace character.
const FORBIDDEN = /[\p{Cc}\s\u2028\u2029\uFEFF]/u;

/** Returns the group id if it is valid, else throws InvalidGroupIdError naming the reason. */
export function validateGroupId(id: string): string {
  if (id.length === 0) throw new InvalidGroupIdError('empty');
  // Every publish checks its group: the common id (printable ASCII) skips the encoding and the
  // Unicode patterns below, which cost more than the rest of a small POST's own work.
  if (id.length <= MAX_GROUP_ID_BYTES && printableAscii(id)) {
    if (id === '.' || id === '..') throw new InvalidGroupIdError('"." and ".." are not group ids');
    return id;
  }
  if (id.length > MAX_GROUP_ID_BYTES || utf8.encode(id).byteLength > MAX_GROUP_ID_BYTES) {
    throw new InvalidGroupIdError(`longer than ${MAX_GROUP_ID_BYTES} bytes`);
  }
  if (FORBIDDEN.test(id))
    throw new InvalidGroupIdError('contains whitespace or a control character');
  if (/\p{Cs}/u.test(id)) throw new InvalidGroupIdError('not valid UTF-8');
  // URLs collapse these path segments (`/groups/..` is `/`), so such a group could be joined
  // over TCP but never named over HTTP: one rule for every transport refuses them.
  if (id === '.' || id === '..') throw new InvalidGroupIdError('"." and ".." are not group ids');
  return id;
}

/** Only `!` to `~`: no whitespace, no control character, one byte each in UTF-8. */
function printableAscii(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** Decodes and validates a group id that arrived as bytes (a TCP join line). */
export function groupIdFromBytes(bytes: Uint8Array): string {
  if (bytes.byteLength === 0) throw new InvalidGroupIdError('empty');
  if (bytes.byteLength > MAX_GROUP_ID_BYTES) {
    throw new InvalidGroupIdError(`longer than ${MAX_GROUP_ID_BYTES} bytes`);
  }
  let id: string;
  try {
    id = strictUtf8.decode(bytes);
  } catch {
    throw new InvalidGroupIdError('not valid UTF-8');
  }
  return validateGroupId(id);
}
