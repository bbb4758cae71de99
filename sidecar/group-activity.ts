import { textDecoder } from '../shared/bytes.ts';
import type { GroupActivity } from '../shared/hub.ts';
import type { Group } from './group.ts';

/**
 * Characters of the newest message shown in listings. A display choice, not a limit: the
 * message itself is untouched, and this bounds what a listing of many groups carries.
 */
export const PREVIEW_CHARS = 80;

/** A group's counters and newest message for listings (the dashboard's rates and previews). */
export function groupActivity(g: Group): GroupActivity {
  let membersBehind = 0;
  let pendingBytes = 0;
  for (const list of [g.members, g.sse]) {
    for (const m of list) {
      const n = m.pendingBytes;
      if (n > 0) {
        membersBehind++;
        pendingBytes += n;
      }
    }
  }
  return {
    messagesIn: g.messagesIn,
    bytesIn: g.bytesIn,
    deliveries: g.deliveries,
    bytesOut: g.bytesOut,
    lastAt: g.lastTime > 0 ? new Date(g.lastTime).toISOString() : null,
    preview: previewOf(g),
    membersBehind,
    pendingBytes,
  };
}

function previewOf(g: Group): string | null {
  const newest = g.history.newest;
  if (!newest) return null;
  const data = newest.payload(newest.count - 1);
  // Four bytes per character at most: decode no more than the preview can show.
  const cut = data.byteLength > PREVIEW_CHARS * 4;
  const head = cut ? data.subarray(0, PREVIEW_CHARS * 4) : data;
  // The cut may split the last character; anything else undecodable is binary, not previewed.
  const text = textDecoder.decode(head).replace(cut ? /\uFFFD{1,3}$/ : /$^/, '');
  if (text.includes('\uFFFD')) return null;
  const chars = Array.from(text.replace(/[\r\n\t]+/g, ' '));
  return cut || chars.length > PREVIEW_CHARS
    ? `${chars.slice(0, PREVIEW_CHARS).join('')}…`
    : chars.join('');
}
