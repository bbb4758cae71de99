/**
 * Runs a callback once the current event-loop turn's I/O callbacks are done. Everything published
 * within one turn is then written with one write per subscriber. `queueMicrotask` would run after
 * each callback and batch nothing; `setImmediate` (Node, Bun) or a MessageChannel (browsers,
 * Deno) runs after the turn.
 */
type Schedule = (fn: () => void) => void;

function pick(): Schedule {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const si = g.setImmediate;
    return (fn) => {
      si(fn);
    };
  }
  if (typeof MessageChannel === 'function') {
    const queue: (() => void)[] = [];
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const fns = queue.splice(0);
      for (const fn of fns) fn();
    };
    // A pending port must not keep a process alive on its own.
    (channel.port1 as { unref?: () => void }).unref?.();
    return (fn) => {
      queue.push(fn);
      if (queue.length === 1) channel.port2.postMessage(0);
    };
  }
  return (fn) => {
    setTimeout(fn, 0);
  };
}

export const afterTurn: Schedule = pick();

/**
 * Things to finish once the current turn's I/O callbacks are done, each once, in the order they
 * were held. One scheduled callback per turn however many are held; `arm` schedules it before
 * anything is held, to run ahead of what other lists schedule later in the turn.
 */
export class TurnList<T> {
  #items: T[] = [];
  #armed = false;
  readonly #finish: (item: T) => void;

  constructor(finish: (item: T) => void) {
    this.#finish = finish;
  }

  hold(item: T): void {
    this.#items.push(item);
    this.arm();
  }

  arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    afterTurn(this.#run);
  }

  readonly #run = (): void => {
    this.#armed = false;
    const items = this.#items;
    this.#items = [];
    for (let i = 0; i < items.length; i++) this.#finish(items[i]);
  };
}

/** Resolves after the current turn: long work awaits it now and then so I/O is never starved. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => afterTurn(resolve));
}
