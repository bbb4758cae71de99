/** Latency samples (µs), kept whole: a few hundred thousand per job at most. */
export class Latencies {
  #a = new Float64Array(1 << 16);
  #n = 0;

  add(us: number): void {
    if (this.#n === this.#a.length) {
      const next = new Float64Array(this.#a.length * 2);
      next.set(this.#a);
      this.#a = next;
    }
    this.#a[this.#n++] = us;
  }

  get count(): number {
    return this.#n;
  }

  summary(): { p50: number; p99: number; p999: number; max: number; count: number } | undefined {
    if (this.#n === 0) return undefined;
    const s = this.#a.slice(0, this.#n).sort();
    const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1], count: this.#n };
  }
}
