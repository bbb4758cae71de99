/**
 * A small Prometheus text-format (0.0.4) writer, for runtimes without prom-client (the edge
 * worker on Deno). Each metric is written with its HELP and TYPE lines, then its samples.
 */
export type MetricType = 'counter' | 'gauge';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export class PromText {
  #out: string[] = [];

  metric(name: string, type: MetricType, help: string, samples: number | readonly Sample[]): this {
    this.#out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    this.#out.push(`# TYPE ${name} ${type}`);
    const list = typeof samples === 'number' ? [{ value: samples }] : samples;
    for (const s of list) this.#out.push(`${name}${labels(s.labels)} ${number(s.value)}`);
    return this;
  }

  toString(): string {
    return `${this.#out.join('\n')}\n`;
  }
}

function labels(l: Record<string, string> | undefined): string {
  if (!l) return '';
  const parts = Object.entries(l).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
  );
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}
