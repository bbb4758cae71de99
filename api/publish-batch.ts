import type { Hub, Origin } from '../shared/hub.ts';
import { nextTurn } from '../shared/turn.ts';

/** A large batch is handed to the hub in slices of at most this many messages... */
export const PUBLISH_SLICE_MESSAGES = 1000;
/** ...and about this many bytes, each in its own turn, so other requests and sockets go on. */
export const PUBLISH_SLICE_BYTES = 256 * 1024;
/** Up to this many messages the answer lists every id; past it, the first, the last and a count. */
export const REPLY_IDS_MAX = 1000;

/** The answer to a POST: every id for a small batch, a bounded summary for a large one. */
export type PublishReply =
  | { ids: string[]; recipients: number }
  | { count: number; firstId: string; lastId: string; recipients: number };

/**
 * Publishes a batch in order, slice by slice. One slice is one hub batch (one SSE frame set, one
 * Redis transaction), so a 16 MiB NDJSON body never holds the event loop for its whole length.
 * Messages from other publishers may fall between slices; within the batch the order is kept.
 * Only the first slice can be refused for a congested group (GROUP_BUSY); later ones wait for
 * it. A later slice that fails otherwise (BACKPLANE_BUSY) ends the request with its error, and
 * the earlier slices stay published.
 */
export async function publishBatch(
  hub: Hub,
  group: string,
  payloads: Uint8Array[],
  origin: Origin,
): Promise<PublishReply> {
  const ids: string[] = [];
  let firstId = '';
  let lastId = '';
  let recipients = 0;
  let at = 0;
  while (at < payloads.length) {
    let end = at;
    let bytes = 0;
    while (
      end < payloads.length &&
      end - at < PUBLISH_SLICE_MESSAGES &&
      (end === at || bytes + payloads[end].byteLength <= PUBLISH_SLICE_BYTES)
    ) {
      bytes += payloads[end].byteLength;
      end++;
    }
    if (at > 0) await nextTurn();
    const r = await hub.publish(
      group,
      at === 0 && end === payloads.length ? payloads : payloads.slice(at, end),
      origin,
      { continuing: at > 0 },
    );
    if (at === 0) firstId = r.ids[0] ?? '';
    lastId = r.ids.at(-1) ?? lastId;
    recipients = Math.max(recipients, r.recipients);
    if (payloads.length <= REPLY_IDS_MAX) ids.push(...r.ids);
    at = end;
  }
  if (payloads.length <= REPLY_IDS_MAX) return { ids, recipients };
  return { count: payloads.length, firstId, lastId, recipients };
}
