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

/** Resolves after the current turn: long work awaits it now and then so I/O is never starved. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => afterTurn(resolve));
}
