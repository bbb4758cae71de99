/** One file of the dashboard page, held in memory (see assets.ts, generated from src/). */
export interface DashboardAsset {
  /** Content-Type. */
  readonly type: string;
  /** A strong validator: a hash of the body, quoted. */
  readonly etag: string;
  readonly body: string;
}
