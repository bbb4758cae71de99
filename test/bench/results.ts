/** Measured samples, grouped by scenario, case and target; medians and ratios. */
export interface Sample {
  ok: boolean;
  error?: string;
  /** The figure this row is about (deliveries/s, µs, bytes per member...). */
  value: number;
  /** Server CPU in cores (1 = one core busy) over the measured window. */
  serverCpu?: number;
  /** Load worker CPU in cores over the same window. */
  workerCpu?: number;
  lost?: number;
  orderErrors?: number;
  extra?: Record<string, number | string | boolean>;
}

export interface Row {
  scenario: string;
  case: string;
  target: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Loss is checked: any lost or out-of-order message fails the run. */
  checkLoss: boolean;
  samples: Sample[];
  skipped?: string;
  note?: string;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export class Results {
  readonly rows: Row[] = [];

  row(
    scenario: string,
    kase: string,
    target: string,
    init: Omit<Row, 'scenario' | 'case' | 'target' | 'samples'>,
  ): Row {
    let r = this.find(scenario, kase, target);
    if (!r) {
      r = { scenario, case: kase, target, samples: [], ...init };
      this.rows.push(r);
    }
    return r;
  }

  skip(scenario: string, kase: string, target: string, unit: string, reason: string): void {
    this.row(scenario, kase, target, { unit, better: 'higher', checkLoss: false, skipped: reason });
  }

  find(scenario: string, kase: string, target: string): Row | undefined {
    return this.rows.find((r) => r.scenario === scenario && r.case === kase && r.target === target);
  }

  /** Median of the successful samples of a row, or NaN. */
  value(scenario: string, kase: string, target: string): number {
    const r = this.find(scenario, kase, target);
    if (!r || r.skipped) return Number.NaN;
    return median(r.samples.filter((s) => s.ok).map((s) => s.value));
  }

  ratio(scenario: string, kase: string, target: string, baseline: string): number {
    return this.value(scenario, kase, target) / this.value(scenario, kase, baseline);
  }

  /** Failures of a whole scenario (it threw, or measured nothing for groupcast). */
  readonly problems: string[] = [];

  /**
   * groupcast rows whose loss check failed, whose samples errored or that have no figure at all
   * (every round failed or gave NaN, or groupcast did not start), and the scenarios' problems.
   * Baselines only report.
   */
  failures(): string[] {
    const out = [...this.problems];
    for (const r of this.rows) {
      if (!r.target.startsWith('groupcast')) continue;
      const name = `${r.scenario} ${r.case} ${r.target}`;
      if (r.skipped) {
        if (r.skipped.startsWith('error:')) out.push(`${name}: ${r.skipped}`);
        continue;
      }
      if (!r.samples.some((s) => s.ok && Number.isFinite(s.value))) {
        out.push(`${name}: no figure (${r.samples.length} round(s), none gave a value)`);
      }
      for (const s of r.samples) {
        if (!s.ok) out.push(`${name}: ${s.error}`);
        else if (r.checkLoss && ((s.lost ?? 0) !== 0 || (s.orderErrors ?? 0) !== 0)) {
          out.push(`${name}: lost ${s.lost}, out of order ${s.orderErrors}`);
        }
      }
    }
    return out;
  }
}
