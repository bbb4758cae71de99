import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, type JWK, SignJWT } from 'jose';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { baseUrl } from '../helpers/http.ts';
import { startTestSidecar, waitFor } from '../helpers/sidecar.ts';
import { SseClient } from '../helpers/sse.ts';

const SECRET = 'test-secret-that-is-long-enough-for-hs256';
let sc: Sidecar;
const open: { close(): void }[] = [];

async function restart(overrides: Partial<SidecarOptions>) {
  for (const p of open.splice(0)) p.close();
  await sc?.close();
  sc = await startTestSidecar(overrides);
}

function hs256(claims: Record<string, unknown>, exp: string | number = '1h', secret = SECRET) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
}

async function call(path: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
  const res = await fetch(`${baseUrl(sc)}${path}`, { ...init, headers });
  const text = await res.text();
  let json: { error?: { code: string; message: string }; groups?: { group: string }[] } = {};
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

test.after(async () => {
  for (const p of open.splice(0)) p.close();
  await sc.close();
});

test('HS256: no token, a bad one, an expired one or a not-yet-valid one get 401 UNAUTHORIZED', async () => {
  await restart({ jwtSecret: SECRET });
  const good = await hs256({ groupcast: { publish: ['*'], subscribe: ['*'] } });
  const expired = await hs256(
    { groupcast: { publish: ['*'] } },
    Math.floor(Date.now() / 1000) - 60,
  );
  const early = await new SignJWT({ groupcast: { publish: ['*'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(SECRET));
  const forged = await hs256(
    { groupcast: { publish: ['*'] } },
    '1h',
    'another-secret-another-secret-another',
  );
  for (const [what, token, message] of [
    ['none', undefined, /token is required/],
    ['garbage', 'not.a.jwt', /invalid token/],
    ['forged', forged, /invalid token/],
    ['expired', expired, /expired/],
    ['not yet valid', early, /token rejected|invalid/],
  ] as const) {
    const r = await call('/groups/lobby/messages', { method: 'POST', body: 'x', token });
    assert.is(r.status, 401, what);
    assert.is(r.json.error?.code, 'UNAUTHORIZED', what);
    assert.match(r.json.error?.message ?? '', message, what);
  }
  assert.is(
    (await call('/groups/lobby/messages', { method: 'POST', body: 'x', token: good })).status,
    202,
  );
});

test('claims decide per group: publish and subscribe patterns, 403 FORBIDDEN otherwise', async () => {
  await restart({ jwtSecret: SECRET });
  const token = await hs256({
    groupcast: { publish: ['lobby*'], subscribe: ['lobby', 'stats-*'] },
  });
  assert.is(
    (await call('/groups/lobby-eu/messages', { method: 'POST', body: 'x', token })).status,
    202,
  );
  const denied = await call('/groups/admin/messages', { method: 'POST', body: 'x', token });
  assert.is(denied.status, 403);
  assert.is(denied.json.error?.code, 'FORBIDDEN');
  assert.is(
    (await call('/groups/lobby-eu/messages?limit=1', { token })).status,
    403,
    'history needs subscribe',
  );
  assert.is((await call('/groups/lobby-eu', { token })).status, 403, 'inspecting needs subscribe');
  const sse = await fetch(`${baseUrl(sc)}/groups/admin/events?access_token=${token}`);
  assert.is(sse.status, 403);
  await sse.body?.cancel();
});

test('a token works from the Authorization header, the groupcast_token cookie and ?access_token=', async () => {
  await restart({ jwtSecret: SECRET });
  const token = await hs256({ groupcast: { publish: ['lobby'], subscribe: ['lobby'] } });
  const viaQuery = await SseClient.open(`${baseUrl(sc)}/groups/lobby/events?access_token=${token}`);
  const viaCookie = await SseClient.open(`${baseUrl(sc)}/groups/lobby/events`, {
    Cookie: `groupcast_token=${token}`,
  });
  open.push(viaQuery, viaCookie);
  assert.is(viaQuery.response.status, 200);
  assert.is(viaCookie.response.status, 200);
  await waitFor(() => sc.hub.findGroup('lobby')?.counts.sse === 2);
  assert.is(
    (await call('/groups/lobby/messages', { method: 'POST', body: 'hi', token })).status,
    202,
  );
  await viaQuery.waitForMessages(1);
  await viaCookie.waitForMessages(1);
});

test('listings show only groups the bearer may subscribe to; health and metrics stay public', async () => {
  await restart({ jwtSecret: SECRET });
  const admin = await hs256({ groupcast: { publish: ['*'], subscribe: ['*'] } });
  for (const g of ['lobby', 'stats-eu', 'admin'])
    await call(`/groups/${g}/messages`, { method: 'POST', body: 'x', token: admin });
  const token = await hs256({ groupcast: { subscribe: ['lobby', 'stats-*'] } });
  const list = await call('/groups', { token });
  assert.equal(
    list.json.groups?.map((g) => g.group),
    ['lobby', 'stats-eu'],
  );
  assert.is((await call('/groups')).status, 401);
  assert.is((await call('/healthz')).status, 200);
  assert.is((await call('/metrics')).status, 200);
});

test('RS256 with a PEM public key, and issuer/audience checks', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await restart({
    jwtPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    jwtIssuer: 'https://issuer.example',
    jwtAudience: 'groupcast',
  });
  const sign = (iss: string) =>
    new SignJWT({ groupcast: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(iss)
      .setAudience('groupcast')
      .setExpirationTime('5m')
      .sign(privateKey);
  assert.is(
    (
      await call('/groups/g/messages', {
        method: 'POST',
        body: 'x',
        token: await sign('https://issuer.example'),
      })
    ).status,
    202,
  );
  const wrong = await call('/groups/g/messages', {
    method: 'POST',
    body: 'x',
    token: await sign('https://evil.example'),
  });
  assert.is(wrong.status, 401);
  assert.match(wrong.json.error?.message ?? '', /iss/);
});

test('ES256 tokens verified against a JWKS URL', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  let fetches = 0;
  const jwks: Server = createServer((_req, res) => {
    fetches++;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  try {
    await restart({ jwtJwksUrl: url });
    const token = await new SignJWT({ groupcast: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    assert.is((await call('/groups/g/messages', { method: 'POST', body: 'x', token })).status, 202);
    assert.is((await call('/groups/g/messages', { method: 'POST', body: 'y', token })).status, 202);
    assert.ok(fetches >= 1);
  } finally {
    jwks.closeAllConnections();
    jwks.close();
  }
});

test('static API keys allow everything; other keys are refused', async () => {
  await restart({ apiKeys: ['k-one', 'k-two'] });
  assert.is(
    (await call('/groups/any/messages', { method: 'POST', body: 'x', token: 'k-two' })).status,
    202,
  );
  assert.is(
    (await call('/groups/any/messages', { method: 'POST', body: 'x', token: 'k-three' })).status,
    401,
  );
});

test('refused requests are counted by reason in metrics', async () => {
  await restart({ apiKeys: ['k'] });
  await call('/groups/a/messages', { method: 'POST', body: 'x' });
  await call('/groups/a/messages', { method: 'POST', body: 'x' });
  const text = await (await fetch(`${baseUrl(sc)}/metrics`)).text();
  assert.match(text, /groupcast_rejected_total\{reason="UNAUTHORIZED"\} 2/);
});

test('the HTTP allowlist refuses other addresses with 403 ADDRESS_NOT_ALLOWED', async () => {
  await restart({ httpAllow: ['10.0.0.0/8', '::1/128'] });
  const r = await call('/groups');
  assert.is(r.status, 403);
  assert.is(r.json.error?.code, 'ADDRESS_NOT_ALLOWED');
  await restart({ httpAllow: ['127.0.0.0/8'] });
  assert.is((await call('/groups')).status, 200);
});

test('SSE streams per IP are limited with 429 TOO_MANY_FROM_ADDRESS, and freed on close', async () => {
  await restart({ maxSsePerIp: 2 });
  const a = await SseClient.open(`${baseUrl(sc)}/groups/x/events`);
  const b = await SseClient.open(`${baseUrl(sc)}/groups/y/events`);
  open.push(a, b);
  const c = await call('/groups/z/events');
  assert.is(c.status, 429);
  assert.is(c.json.error?.code, 'TOO_MANY_FROM_ADDRESS');
  a.close();
  await waitFor(() => sc.hub.connections.sse === 1);
  const d = await SseClient.open(`${baseUrl(sc)}/groups/z/events`);
  open.push(d);
  assert.is(d.response.status, 200);
});

test('HTTP publishing past the rate limit gets 429 RATE_LIMITED', async () => {
  await restart({ rateLimit: 5, rateBurst: 5 });
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++)
    statuses.push((await call('/groups/r/messages', { method: 'POST', body: `m${i}` })).status);
  assert.is(statuses.filter((s) => s === 202).length >= 5, true);
  assert.ok(statuses.filter((s) => s === 429).length >= 5, statuses.join());
  assert.is(
    sc.hub.findGroup('r')?.seq,
    statuses.filter((s) => s === 202).length,
    'refused messages were not published',
  );
});

test.run();
