import { InvalidGroupIdError } from '../shared/errors.ts';

const DOT = /^(?:\.|%2e){1,2}$/i;

/** Bytes a group path segment may hold to be taken as written: nothing a URL parser rewrites. */
export const PLAIN_SEGMENT_CHARS = "A-Za-z0-9_~!$&'()*+,;=:@.-";
const PLAIN_SEGMENT = new RegExp(`^[${PLAIN_SEGMENT_CHARS}]+$`);

/** A group segment the fast paths (Node, raw front, edge) may take as it is written. */
export function plainGroup(group: string): boolean {
  return group !== '.' && group !== '..' && PLAIN_SEGMENT.test(group);
}

/** The path of a URL as written (`new URL()` would already have collapsed its dot segments). */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  const start = scheme < 0 ? 0 : url.indexOf('/', scheme + 3);
  if (start < 0) return '/';
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/**
 * Refuses a path under `/groups/` with a `.` or `..` segment (also written `%2E`): a URL parser
 * collapses them, so `/groups/..` would reach the dashboard and `/groups/%2E/messages` the group
 * `messages`. Group ids `.` and `..` are invalid everywhere (shared/group-id.ts); this gives HTTP
 * the same answer before any parser has rewritten the path.
 */
export function refuseDotSegments(rawPath: string): void {
  if (!rawPath.startsWith('/groups/')) return;
  if (!rawPath.includes('.') && !/%2e/i.test(rawPath)) return;
  for (const segment of rawPath.slice('/groups/'.length).split('/')) {
    if (DOT.test(segment)) throw new InvalidGroupIdError('"." and ".." are not group ids');
  }
}
