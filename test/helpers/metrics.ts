/**
 * Reads one Prometheus series the way a user's scraper does: over HTTP from /metrics, never from
 * the hub's in-process counters (a test that reads those passes even when /metrics is wrong).
 * No runtime imports: Node tests and Deno tests both use it.
 */

const SAMPLE = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/**
 * The value of the series `name{labels}` in Prometheus text. Labels must match exactly (no extra
 * ones). A counter with no sample yet (no such reason so far) reads 0; a metric whose name is
 * not declared at all throws, so a renamed metric cannot pass as "still 0".
 */
export function seriesValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  if (!new RegExp(`^# TYPE ${name} `, 'm').test(text))
    throw new Error(`no metric named ${name} in /metrics`);
  const want = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(LABEL)]
      .map((l) => [l[1], l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))])
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return 0;
}

/** Fetches `${base}/metrics` and reads one series from it (see seriesValue). */
export async function readSeries(
  base: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${base}/metrics answered ${res.status}`);
  return seriesValue(await res.text(), name, labels);
}
