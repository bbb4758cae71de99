import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
// jose is loaded when the first key is (auth on): a sidecar without auth never pays for it.
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { ForbiddenError, InvalidOptionError, UnauthorizedError } from '../shared/errors.ts';
import type { AuthOptions } from '../shared/options/api.ts';
import { compilePatterns, type GroupMatcher } from '../shared/patterns.ts';

/** What a bearer may do. */
export interface Grants {
  subject: string;
  publish: GroupMatcher;
  subscribe: GroupMatcher;
}

/** Claims in a token: `{ "groupcast": { "publish": ["lobby*"], "subscribe": ["*"] } }`. */
export interface GroupcastClaims {
  publish?: string[];
  subscribe?: string[];
}

export const TOKEN_COOKIE = 'groupcast_token';
/** Verified tokens are remembered (at most this many, at most a minute) so each request does not pay for a signature check. */
export const TOKEN_CACHE_ENTRIES = 10_000;
export const TOKEN_CACHE_MS = 60_000;

const ALL: GroupMatcher = () => true;
const utf8 = new TextEncoder();

export function authConfigured(o: AuthOptions): boolean {
  return Boolean(o.jwtSecret || o.jwtPublicKey || o.jwtJwksUrl || o.apiKeys.length > 0);
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/** The token of a request: `Authorization: Bearer`, the `groupcast_token` cookie, or `?access_token=`. */
export function tokenOf(c: Context): string | undefined {
  const bearer = bearerToken(c.req.header('authorization'));
  if (bearer !== undefined) return bearer;
  return getCookie(c, TOKEN_COOKIE) ?? c.req.query('access_token') ?? undefined;
}

function sameBytes(a: string, b: string): boolean {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function grantsFrom(payload: JWTPayload): Grants {
  const claims = (payload as { groupcast?: GroupcastClaims }).groupcast;
  const list = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return {
    subject: typeof payload.sub === 'string' ? payload.sub : 'token',
    publish: compilePatterns(list(claims?.publish)),
    subscribe: compilePatterns(list(claims?.subscribe)),
  };
}

type VerifyKey = Uint8Array | CryptoKey | JWTVerifyGetKey;

/** Verifies bearer credentials; built once per API from the options. */
export class Authenticator {
  readonly #opts: AuthOptions;
  readonly #keys: Promise<{ key: VerifyKey; algorithms: string[] }[]>;
  #jwtVerify: typeof import('jose')['jwtVerify'] | undefined;
  readonly #cache = new Map<string, { grants: Grants; until: number }>();

  constructor(opts: AuthOptions) {
    this.#opts = opts;
    this.#keys = this.#loadKeys();
    this.#keys.catch(() => {});
  }

  /** Resolves once keys are usable; rejects with INVALID_OPTION for a key that cannot be read. */
  async ready(): Promise<void> {
    await this.#keys;
  }

  async #loadKeys(): Promise<{ key: VerifyKey; algorithms: string[] }[]> {
    const o = this.#opts;
    const keys: { key: VerifyKey; algorithms: string[] }[] = [];
    if (!o.jwtSecret && !o.jwtPublicKey && !o.jwtJwksUrl) return keys;
    const { createRemoteJWKSet, importSPKI, jwtVerify } = await import('jose');
    this.#jwtVerify = jwtVerify;
    if (o.jwtSecret) keys.push({ key: utf8.encode(o.jwtSecret), algorithms: ['HS256'] });
    if (o.jwtPublicKey) {
      let imported: { key: CryptoKey; algorithms: string[] } | undefined;
      for (const alg of ['RS256', 'ES256']) {
        try {
          imported = { key: await importSPKI(o.jwtPublicKey, alg), algorithms: [alg] };
          break;
        } catch {}
      }
      if (!imported)
        throw new InvalidOptionError(
          'jwtPublicKey',
          '(PEM)',
          'expected an RSA or P-256 public key in PEM (SPKI)',
        );
      keys.push(imported);
    }
    if (o.jwtJwksUrl)
      keys.push({ key: createRemoteJWKSet(new URL(o.jwtJwksUrl)), algorithms: ['RS256', 'ES256'] });
    return keys;
  }

  async verify(token: string | undefined, now = Date.now()): Promise<Grants> {
    if (!token)
      throw new UnauthorizedError(
        'a token is required: Authorization: Bearer, the groupcast_token cookie, or ?access_token=',
      );
    for (const k of this.#opts.apiKeys) {
      if (sameBytes(token, k)) return { subject: 'api-key', publish: ALL, subscribe: ALL };
    }
    const hit = this.#cache.get(token);
    if (hit && hit.until > now) return hit.grants;
    if (hit) this.#cache.delete(token);
    let lastError: unknown;
    const keys = await this.#keys;
    const jwtVerify = this.#jwtVerify;
    for (const { key, algorithms } of keys) {
      if (!jwtVerify) break;
      try {
        const { payload } = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          issuer: this.#opts.jwtIssuer ?? undefined,
          audience: this.#opts.jwtAudience ?? undefined,
        });
        const grants = grantsFrom(payload);
        const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY;
        if (this.#cache.size >= TOKEN_CACHE_ENTRIES)
          this.#cache.delete(this.#cache.keys().next().value as string);
        this.#cache.set(token, { grants, until: Math.min(exp, now + TOKEN_CACHE_MS) });
        return grants;
      } catch (err) {
        lastError = err;
      }
    }
    const code = (lastError as { code?: string } | undefined)?.code;
    throw new UnauthorizedError(
      code === 'ERR_JWT_EXPIRED'
        ? 'token expired'
        : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? `token rejected: ${(lastError as Error).message}`
          : 'invalid token',
    );
  }
}

export function requireGrant(
  grants: Grants | undefined,
  action: 'publish' | 'subscribe',
  group: string,
): void {
  if (grants && !grants[action](group)) {
    throw new ForbiddenError(
      `this token may not ${action} ${action === 'publish' ? 'to' : 'from'} ${JSON.stringify(group)}`,
    );
  }
}
