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

/** Smaller files go as they are: compressing them saves less than its headers cost. */
const COMPRESS_FROM_BYTES = 1024;

/** Each file gzip-compressed once, on first request (Web CompressionStream: Node and Deno). */
const gzipped = new WeakMap<DashboardAsset, Promise<ArrayBuffer>>();

function gzipOf(asset: DashboardAsset): Promise<ArrayBuffer> {
  let p = gzipped.get(asset);
  if (!p) {
    const stream = new Blob([asset.body]).stream().pipeThrough(new CompressionStream('gzip'));
    p = new Response(stream).arrayBuffer();
    gzipped.set(asset, p);
  }
  return p;
}

async function serve(
  c: Context,
  asset: DashboardAsset,
  cacheControl: string,
  compress = false,
): Promise<Response> {
  const gzip =
    compress &&
    asset.body.length >= COMPRESS_FROM_BYTES &&
    /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  // A compressed body is another representation: another strong validator.
  const etag = gzip ? `${asset.etag.slice(0, -1)}.gz"` : asset.etag;
  const headers: Record<string, string> = {
    ETag: etag,
    'Cache-Control': cacheControl,
    'X-Content-Type-Options': 'nosniff',
  };
  if (compress) headers.Vary = 'Accept-Encoding';
  const match = c.req.header('if-none-match');
  if (match?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
    return c.body(null, 304, headers);
  }
  if (gzip) {
    const body = await gzipOf(asset);
    return c.body(body, 200, {
      ...headers,
      'Content-Type': asset.type,
      'Content-Encoding': 'gzip',
    });
  }
  return c.body(asset.body, 200, { ...headers, 'Content-Type': asset.type });
}

/**
 * The dashboard: `GET /` is the page (always revalidated, so a new version shows at once);
 * its scripts and style sheets have content-hashed names, are cached for a year and go
 * gzip-compressed to browsers that accept it.
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
    return serve(c, asset, 'public, max-age=31536000, immutable', true);
  });
}
