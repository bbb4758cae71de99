/** A growable Uint32Array reused across reads, so decoding allocates once per batch, not per message. */
export class BoundsScratch {
  #a = new Uint32Array(256);
  n = 0;

  push(start: number, end: number): void {
    if (this.n + 2 > this.#a.length) {
      const next = new Uint32Array(this.#a.length * 2);
      next.set(this.#a);
      this.#a = next;
    }
    this.#a[this.n++] = start;
    this.#a[this.n++] = end;
  }

  /** Copies out the pairs pushed since the last take. */
  take(): Uint32Array {
    const out = this.#a.slice(0, this.n);
    this.n = 0;
    return out;
  }
}

/** Allocates the byte arrays a framing builds; the sidecar passes Node's Buffer.allocUnsafe, so sockets take them as they are. */
export type Alloc = (size: number) => Uint8Array;

export const plainAlloc: Alloc = (size) => new Uint8Array(size);

/** Concatenates held partial reads with the new chunk, in one copy. */
export function joinParts(
  parts: Uint8Array[],
  held: number,
  chunk: Uint8Array,
  alloc: Alloc,
): Uint8Array {
  const out = alloc(held + chunk.byteLength);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  out.set(chunk, at);
  return out;
}
