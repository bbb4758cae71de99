import type { StartPoint } from '../shared/hub.ts';
import { formatId, parseId } from '../shared/message.ts';
import type { GapInfo } from '../shared/sse.ts';

/** What a replay can be served from: a group's sequence and the part of it still held. */
export interface HistoryWindowSeqs {
  epoch: number;
  /** Newest seq issued. */
  seq: number;
  /** Newest evicted seq, 0 if none. */
  evictedSeq: number;
  /** Oldest held seq, 0 when nothing is held. */
  firstSeq: number;
}

/**
 * Where a start point leaves off: replay everything with seq > afterSeq, after telling the client
 * about a gap when its id was evicted, never issued, or from an earlier run. One rule for the
 * in-memory history and for the history a Redis backplane holds, so both answer alike.
 */
export function resolveStart(
  start: StartPoint,
  w: HistoryWindowSeqs,
): { afterSeq: number; gap: GapInfo | null } {
  let after = w.seq;
  let reason: GapInfo['reason'] | null = null;
  if (start.kind === 'earliest') after = 0;
  else if (start.kind === 'after') {
    const id = parseId(start.id);
    if (!id) reason = 'unknown';
    else if (id.epoch < w.epoch) reason = 'reset';
    else if (id.epoch > w.epoch || id.seq > w.seq) reason = 'unknown';
    else if (id.seq < w.evictedSeq) reason = 'evicted';
    else after = id.seq;
    if (reason) after = 0;
  }
  if (w.firstSeq > 0) after = Math.max(after, w.firstSeq - 1);
  const gap =
    reason && start.kind === 'after'
      ? {
          requested: start.id,
          resumedFrom: w.firstSeq > 0 ? formatId(w.epoch, w.firstSeq) : null,
          reason,
        }
      : null;
  return { afterSeq: after, gap };
}
