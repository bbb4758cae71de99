import { GroupcastError } from '../../shared/errors.ts';
import type { PublishResult } from '../../shared/hub.ts';
import { FRAMES_TYPE, joinFrames } from '../body.ts';
import { PUBLISH_SLICE_BYTES, REPLY_IDS_MAX } from '../publish-batch.ts';

/** Sends one body to the sidecar's publish route of a group and returns its answer. */
export type SendPublish = (
  group: string,
  body: Uint8Array,
  contentType: string,
) => Promise<PublishResult>;

/**
 * Requests to the sidecar one group has on their way at once. While one is, the POSTs that
 * arrive wait and then go together as one request: the edge's cost per POST is mostly its
 * request to the sidecar, and the sidecar fans out once per request it takes, so under load both
 * pay once for many POSTs; with no load a POST goes at once. One in flight made the largest
 * batches and the most POSTs a second in the bench. Two split them and gained no latency, with
 * fetch and again on the edge's own connections (4.7 POSTs a request instead of 7.2, more CPU
 * per POST, fewer POSTs a second). Four pipelined on one connection made batches of 2.6 POSTs
 * and cost the edge and the sidecar about 1.5 times the CPU per POST.
 */
const IN_FLIGHT = 1;
/** POSTs joined into one request carry at most this many messages: the sidecar lists each id. */
const JOINED_MESSAGES_MAX = REPLY_IDS_MAX;

/**
 * Codes a sidecar gives a batch for what one of its messages is (too large, unframeable, ...):
 * the batch is then sent again message by message, so each POST gets its own answer, as it
 * would have alone. Those codes refuse a batch before any of it is published, so nothing is
 * published twice.
 */
const PER_MESSAGE = new Set([
  'MESSAGE_TOO_LARGE',
  'BODY_TOO_LARGE',
  'EMPTY_MESSAGE',
  'UNFRAMEABLE',
  'BAD_REQUEST',
  'RATE_LIMITED',
]);

interface Item {
  payloads: Uint8Array[];
  bytes: number;
  resolve(r: PublishResult): void;
  reject(err: unknown): void;
}

interface GroupState {
  inFlight: number;
  waiting: Item[];
}

/**
 * The edge worker's publishes, per group: a POST alone goes to the sidecar unchanged (its body
 * as it came); POSTs that meet a busy group are joined into one `application/x-groupcast-frames`
 * request of at most `maxBatchBytes` (the sidecar's body limit), and each gets its own ids back.
 * What waits here is only the requests in progress, whose bodies the server holds anyway.
 */
export class PublishQueue {
  readonly #send: SendPublish;
  readonly #maxBatchBytes: number;
  readonly #groups = new Map<string, GroupState>();

  constructor(send: SendPublish, maxBatchBytes: number) {
    this.#send = send;
    // One slice of the sidecar's at most: a batch is then taken or refused whole.
    this.#maxBatchBytes = Math.min(maxBatchBytes, PUBLISH_SLICE_BYTES);
  }

  publish(group: string, payloads: Uint8Array[]): Promise<PublishResult> {
    let st = this.#groups.get(group);
    if (!st) {
      st = { inFlight: 0, waiting: [] };
      this.#groups.set(group, st);
    }
    let bytes = 0;
    for (const p of payloads) bytes += 4 + p.byteLength;
    const state = st;
    return new Promise<PublishResult>((resolve, reject) => {
      state.waiting.push({ payloads, bytes, resolve, reject });
      this.#drain(group, state);
    });
  }

  #drain(group: string, st: GroupState): void {
    while (st.inFlight < IN_FLIGHT && st.waiting.length > 0) {
      let take = 1;
      let bytes = st.waiting[0].bytes;
      let messages = st.waiting[0].payloads.length;
      // Within one slice of the sidecar's (so the batch is taken or refused whole) and within
      // the count its answer lists every id for.
      while (
        take < st.waiting.length &&
        bytes + st.waiting[take].bytes <= this.#maxBatchBytes &&
        messages + st.waiting[take].payloads.length <= JOINED_MESSAGES_MAX
      ) {
        bytes += st.waiting[take].bytes;
        messages += st.waiting[take].payloads.length;
        take++;
      }
      const items = st.waiting.splice(0, take);
      st.inFlight++;
      void this.#sendItems(group, items).finally(() => {
        st.inFlight--;
        this.#drain(group, st);
        if (st.inFlight === 0 && st.waiting.length === 0 && this.#groups.get(group) === st) {
          this.#groups.delete(group);
        }
      });
    }
  }

  async #sendItems(group: string, items: Item[]): Promise<void> {
    if (items.length === 1) {
      await this.#sendOne(group, items[0]);
      return;
    }
    let result: PublishResult;
    try {
      result = await this.#send(group, joinFrames(items.flatMap((i) => i.payloads)), FRAMES_TYPE);
    } catch (err) {
      if (err instanceof GroupcastError && PER_MESSAGE.has(err.code)) {
        await Promise.all(items.map((i) => this.#sendOne(group, i)));
      } else for (const i of items) i.reject(err);
      return;
    }
    let at = 0;
    for (const i of items) {
      const n = i.payloads.length;
      i.resolve({ ids: result.ids.slice(at, at + n), recipients: result.recipients });
      at += n;
    }
  }

  async #sendOne(group: string, item: Item): Promise<void> {
    try {
      const single = item.payloads.length === 1;
      item.resolve(
        await this.#send(
          group,
          single ? item.payloads[0] : joinFrames(item.payloads),
          single ? 'application/octet-stream' : FRAMES_TYPE,
        ),
      );
    } catch (err) {
      item.reject(err);
    }
  }
}
