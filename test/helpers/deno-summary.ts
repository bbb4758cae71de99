/**
 * Deno's closing line, e.g. `ok | 9 passed | 0 failed (120ms)` or
 * `FAILED | 2 passed (2 steps) | 1 failed | 1 ignored | 3 filtered out (4ms)` (deno 2.9). The
 * last one counts: a test may print a line like it.
 */
export function parseDenoSummary(
  out: string,
): { passed: number; failed: number; ignored: number } | null {
  const re =
    /^(?:ok|FAILED) \| (\d+) passed(?: \([^)]*\))? \| (\d+) failed(?: \([^)]*\))?(?: \| (\d+) ignored)?/gm;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(out); m; m = re.exec(out)) last = m;
  if (!last) return null;
  return { passed: Number(last[1]), failed: Number(last[2]), ignored: Number(last[3] ?? 0) };
}
