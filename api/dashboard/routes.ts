import type { Context, Hono } from 'hono';
import { GroupcastError } from '../../shared/errors.ts';
import { errorResponse } from '../errors.ts';
import type { DashboardAsset } from './asset.ts';
import { DASHBOARD_ASSETS, DASHBOARD_PAGE } from './assets.ts';

/** Where the page's files are served; cannot collide with /groups, /healthz or /metrics. */
export const DASHBOARD_ASSET_PREFIX = '/_dashboard/';

/**
 * Only this server's own files, no inline code; the page talks to its own origin only.
 * `connect-src 'self'` covers fetch and EventSource.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function serve(c: Context, asset: DashboardAsset, cacheControl: string): Response {
  const headers: Record<string, string> = {
    ETag: asset.etag,
    'Cache-Control': cacheControl,
    'X-Content-Type-Options': 'nosniff',
  };
  const match = c.req.header('if-none-match');
  if (match?.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag)) {
    return c.body(null, 304, headers);
  }
  return c.body(asset.body, 200, { ...headers, 'Content-Type': asset.type });
}

/**
 * The dashboard: `GET /` is the page (always revalidated, so a new version shows at once);
 * its script and style sheet have content-hashed names and are cached for a year.
 */
export function mountDashboard(app: Hono): void {
  app.get('/', (c) => {
    c.header('Content-Security-Policy', DASHBOARD_CSP);
    c.header('Referrer-Policy', 'no-referrer');
    return serve(c, DASHBOARD_PAGE, 'no-cache');
  });
  app.get(`${DASHBOARD_ASSET_PREFIX}:file`, (c) => {
    const asset = DASHBOARD_ASSETS[c.req.param('file')];
    if (!asset) {
      return errorResponse(c, new GroupcastError('NOT_FOUND', `no dashboard file ${c.req.path}`));
    }
    return serve(c, asset, 'public, max-age=31536000, immutable');
  });
}
