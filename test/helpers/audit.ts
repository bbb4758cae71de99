import { parseId } from '../../shared/message.ts';
import type { SseEvent } from './sse.ts';

/**
 * What one receiver got of a numbered run of messages `<prefix><n>` (n = 0 .. sent - 1, sent in
 * that order by one publisher): which never came, which came twice, which came out of order,
 * and, on an SSE stream, whether each gap event was true and each missing stretch announced.
 */
export interface Audit {
  lost: number[];
  duplicated: number[];
  reordered: number[];
  /** SSE: stretches missing with no gap event before the message after them. */
  silent: string[];
  /** SSE: gap events with nothing missing ('evicted') or no change of sequence ('reset'). */
  untrue: string[];
  gaps: { reason: string; missing: number }[];
}

function numbers(items: string[], prefix: string): number[] {
  // A message may carry padding after its number.
  return items
    .filter((t) => t.startsWith(prefix))
    .map((t) => Number.parseInt(t.slice(prefix.length), 10));
}

function tally(got: number[], sent: number): Pick<Audit, 'lost' | 'duplicated' | 'reordered'> {
  const seen = new Set<number>();
  const duplicated: number[] = [];
  const reordered: number[] = [];
  let high = -1;
  for (const n of got) {
    if (seen.has(n)) duplicated.push(n);
    else if (n < high) reordered.push(n);
    seen.add(n);
    high = Math.max(high, n);
  }
  const lost: number[] = [];
  for (let n = 0; n < sent; n++) if (!seen.has(n)) lost.push(n);
  return { lost, duplicated, reordered };
}

/** A TCP (or any line) receiver: its text, one message a line. */
export function auditLines(text: string, prefix: string, sent: number): Audit {
  const got = numbers(text.split('\n'), prefix);
  return { ...tally(got, sent), silent: [], untrue: [], gaps: [] };
}

/** An SSE receiver: its events in order, messages and gap events. */
export function auditSse(events: SseEvent[], prefix: string, sent: number): Audit {
  const got: number[] = [];
  const silent: string[] = [];
  const untrue: string[] = [];
  const gaps: Audit['gaps'] = [];
  let prev: { n: number; epoch: number } | null = null;
  let since: { reason: string; at: number }[] = [];
  for (const e of events) {
    if (e.event === 'gap') {
      since.push({ reason: JSON.parse(e.data).reason, at: gaps.length });
      gaps.push({ reason: JSON.parse(e.data).reason, missing: 0 });
      continue;
    }
    if ((e.event !== 'message' && e.event !== 'binary') || !e.data.startsWith(prefix)) continue;
    const n = Number.parseInt(e.data.slice(prefix.length), 10);
    const epoch = parseId(e.id ?? '')?.epoch ?? 0;
    got.push(n);
    if (prev) {
      const missing = Math.max(0, n - prev.n - 1);
      const where = `between ${prefix}${prev.n} and ${prefix}${n}`;
      if (missing > 0 && since.length === 0) silent.push(`${missing} missing ${where}`);
      for (const g of since) {
        gaps[g.at].missing = missing;
        if (g.reason === 'evicted' && missing === 0) untrue.push(`evicted ${where}: none missing`);
        if (g.reason === 'reset' && epoch === prev.epoch)
          untrue.push(`reset ${where}: same sequence`);
      }
    }
    since = [];
    if (!prev || n > prev.n) prev = { n, epoch };
  }
  return { ...tally(got, sent), silent, untrue, gaps };
}

/** One line for a failed assertion. */
export function describeAudit(name: string, a: Audit): string {
  const few = (xs: unknown[]) =>
    `${xs.length}${xs.length ? ` (${xs.slice(0, 5).join(', ')})` : ''}`;
  return `${name}: lost ${few(a.lost)}, duplicated ${few(a.duplicated)}, reordered ${few(a.reordered)}, silent gaps ${few(a.silent)}, untrue gaps ${few(a.untrue)}, gap events ${JSON.stringify(a.gaps.slice(0, 8))}`;
}

/** A publisher writing `<prefix><n>` lines at a steady pace, bounded in time. */
export class Traffic {
  sent = 0;
  readonly done: Promise<void>;
  #stop = false;

  /** `perTick` lines every `tickMs`, for `ms` (or until stop()). */
  constructor(
    write: (text: string) => void,
    prefix: string,
    perTick: number,
    tickMs: number,
    ms: number,
  ) {
    const until = Date.now() + ms;
    this.done = (async () => {
      while (!this.#stop && Date.now() < until) {
        let text = '';
        for (let i = 0; i < perTick; i++) text += `${prefix}${this.sent++}\n`;
        write(text);
        await new Promise((r) => setTimeout(r, tickMs));
      }
    })();
  }

  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }
}
