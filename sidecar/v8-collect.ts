import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The two ways the sidecar asks V8 for a collection, each set up on first use (most sidecars never
 * need either): a plain full collection, and the memory-reducing one V8's own memory reducer runs.
 */

let gc: (() => void) | null | undefined;

/** A full collection now, where the runtime allows asking for one (Node does, with a flag). */
export function fullCollection(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}

let Session: typeof import('node:inspector').Session | null | undefined;

/**
 * V8's memory-reducing collection (Isolate::LowMemoryNotification: full collections until nothing
 * more is freed, then the young generation shrunk to its start size, which fullCollection leaves
 * as it is), asked for through an in-process inspector session. Resolves false where Node has no
 * inspector.
 */
export async function memoryReducingCollection(): Promise<boolean> {
  if (Session === undefined) {
    try {
      ({ Session } = await import('node:inspector'));
    } catch {
      Session = null;
    }
  }
  if (Session === null) return false;
  const session = new Session();
  session.connect();
  await new Promise<void>((resolve, reject) => {
    session.post('HeapProfiler.collectGarbage', (err) => {
      // Disconnected from inside this callback, the session kept the process alive.
      setImmediate(() => session.disconnect());
      if (err) reject(err);
      else resolve();
    });
  });
  return true;
}
