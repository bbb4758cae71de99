import { HEARTBEAT } from '../shared/sse.ts';
import type { SseSink } from './sse-sink.ts';

/**
 * One timer for every open stream (not one per stream): a comment line keeps proxies from
 * cutting idle streams, and a dead connection shows up as a failed write.
 */
export class Heartbeat {
  readonly #streams = new Set<SseSink>();
  readonly #ms: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  add(stream: SseSink): void {
    this.#streams.add(stream);
    if (!this.#timer) {
      this.#timer = setInterval(this.#beat, this.#ms);
      // Node: an idle heartbeat must not keep the process alive.
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  delete(stream: SseSink): void {
    this.#streams.delete(stream);
    if (this.#streams.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #beat = (): void => {
    for (const s of this.#streams) s.write(HEARTBEAT);
  };
}
