import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../shared/errors.ts';
import { parseDuration, parseList, Reason } from '../shared/options/parse.ts';
import { loadSidecarOptions } from './config.ts';

export const TOKEN_HELP = `Usage: groupcast token [--publish <patterns>] [--subscribe <patterns>] [--ttl <duration>] [options]
       npm run token -- --publish 'lobby*' --subscribe '*' --ttl 1h

Prints a token (JWT) for the configured secret (GROUPCAST_JWT_SECRET, or --secret, or --config).
  --publish <patterns>    groups the bearer may publish to, comma-separated, * wildcards
  --subscribe <patterns>  groups the bearer may subscribe to and inspect
  --ttl <duration>        lifetime (e.g. 15m, 1h, 7d is 168h) [default: 1h]
  --sub <subject>         the token's subject [default: groupcast-token]
  --secret <secret>       HS256 secret (default: GROUPCAST_JWT_SECRET from the environment or --config)
  --key <file>            sign with an RS256/ES256 private key (PKCS#8 PEM) instead
  --alg <RS256|ES256>     algorithm of --key [default: RS256]
  --config <file>         read jwtSecret, jwtIssuer, jwtAudience from this config file`;

interface TokenArgs {
  publish: string[];
  subscribe: string[];
  ttlMs: number;
  sub: string;
  secret?: string;
  key?: string;
  alg: string;
  config?: string;
}

function parseArgs(argv: readonly string[]): TokenArgs {
  const out: TokenArgs = {
    publish: [],
    subscribe: [],
    ttlMs: 3600e3,
    sub: 'groupcast-token',
    alg: 'RS256',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new InvalidOptionError(flag, '', 'expected a value');
    try {
      if (flag === '--publish') out.publish.push(...parseList(value));
      else if (flag === '--subscribe') out.subscribe.push(...parseList(value));
      else if (flag === '--ttl') out.ttlMs = parseDuration(value, 1000, 10 * 365 * 24 * 3600e3);
      else if (flag === '--sub') out.sub = value;
      else if (flag === '--secret') out.secret = value;
      else if (flag === '--key') out.key = value;
      else if (flag === '--alg') out.alg = value;
      else if (flag === '--config') out.config = value;
      else throw new InvalidOptionError(flag, value, 'unknown option; see groupcast token --help');
    } catch (err) {
      if (err instanceof Reason)
        throw new InvalidOptionError(flag, value, `expected ${err.message}`);
      throw err;
    }
  }
  if (out.publish.length === 0 && out.subscribe.length === 0) {
    throw new InvalidOptionError('--publish/--subscribe', '', 'a token must allow something');
  }
  return out;
}

/** Creates a signed token; the grants go in the `groupcast` claim. */
export async function createToken(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const args = parseArgs(argv);
  const { options } = loadSidecarOptions(args.config ? ['--config', args.config] : [], env);
  // Loaded here, not at the top: cli.ts imports this file, and `serve` has no use for jose.
  const { importPKCS8, SignJWT } = await import('jose');
  const jwt = new SignJWT({ groupcast: { publish: args.publish, subscribe: args.subscribe } })
    .setSubject(args.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor((Date.now() + args.ttlMs) / 1000));
  if (options.jwtIssuer) jwt.setIssuer(options.jwtIssuer);
  if (options.jwtAudience) jwt.setAudience(options.jwtAudience);
  if (args.key) {
    const pem = readFileSync(args.key, 'utf8');
    return jwt.setProtectedHeader({ alg: args.alg }).sign(await importPKCS8(pem, args.alg));
  }
  const secret = args.secret ?? options.jwtSecret;
  if (!secret) {
    throw new InvalidOptionError(
      'jwtSecret',
      null,
      'no secret: set GROUPCAST_JWT_SECRET, or pass --secret or --key',
    );
  }
  return jwt.setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}
