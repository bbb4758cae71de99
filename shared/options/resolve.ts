import { GroupcastError, InvalidOptionError } from '../errors.ts';
import { Reason } from './parse.ts';

/**
 * One option: its config-file key, environment name, flag, older aliases (SocketForwarder's
 * keys), parser and default. Resolution order: default < file < aliases < env < flag.
 */
export interface OptionSpec {
  readonly key: string;
  readonly env: string;
  readonly flag: string;
  /** Extra environment names, weaker than `env` (e.g. `socketforwarder.tcp.port`). */
  readonly aliases?: readonly OptionAlias[];
  /** A flag that takes no value (`--x` = true, `--no-x` = false). */
  readonly boolean?: boolean;
  readonly default: unknown;
  /** How the default reads in docs when it is not a plain value. */
  readonly defaultDoc?: string;
  readonly doc: string;
  parse(raw: unknown): unknown;
}

/**
 * An option named `GROUPCAST_<env>` in the environment, whose flag is its key in kebab-case with
 * no `-ms` unit (`upstreamTimeoutMs` -> `--upstream-timeout`).
 */
export function optionSpec<K extends string>(
  key: K,
  env: string,
  def: unknown,
  doc: string,
  parse: (raw: unknown) => unknown,
  extra: Partial<OptionSpec> = {},
): OptionSpec {
  const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/-ms$/, '');
  return { key, env: `GROUPCAST_${env}`, flag, default: def, doc, parse, ...extra };
}

/** An alias name, or a name whose value is mapped first (`socketforwarder.debug` set = on). */
export type OptionAlias = string | { readonly env: string; readonly map: (raw: string) => unknown };

export interface OptionLayers {
  /** Parsed JSON config file. */
  file?: unknown;
  env: Record<string, string | undefined>;
  argv: readonly string[];
}

export interface Resolved<T> {
  options: Readonly<T>;
  /** Keys a user set (file, env or flag), for defaults that depend on other choices. */
  explicit: ReadonlySet<string>;
  /** Keys set through an alias (SocketForwarder's own names). */
  viaAlias: ReadonlySet<string>;
  /** Arguments that are not flags, in order. */
  positionals: string[];
}

function fail(spec: OptionSpec, source: string, raw: unknown, err: unknown): never {
  if (err instanceof Reason) {
    throw new InvalidOptionError(`${spec.key} (${source})`, raw, `expected ${err.message}`);
  }
  if (err instanceof GroupcastError) {
    throw new InvalidOptionError(`${spec.key} (${source})`, raw, err.message);
  }
  throw err;
}

/** Splits argv into flag values and positionals, checking every flag is known. */
export function parseArgv(
  specs: readonly OptionSpec[],
  argv: readonly string[],
): {
  flags: Map<OptionSpec, { raw: unknown; as: string }>;
  positionals: string[];
  positionalAt: number[];
} {
  const byFlag = new Map(specs.map((s) => [s.flag, s]));
  const flags = new Map<OptionSpec, { raw: unknown; as: string }>();
  const positionals: string[] = [];
  const positionalAt: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      positionalAt.push(i);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = arg.slice(2, eq < 0 ? undefined : eq);
    let raw: unknown = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = byFlag.get(name);
    if (!spec && name.startsWith('no-') && byFlag.get(name.slice(3))?.boolean && eq < 0) {
      name = name.slice(3);
      spec = byFlag.get(name);
      raw = false;
    }
    if (!spec) {
      throw new InvalidOptionError(`--${name}`, arg, 'unknown option; see --help');
    }
    if (raw === undefined) {
      if (spec.boolean) raw = true;
      else if (i + 1 < argv.length) raw = argv[++i];
      else throw new InvalidOptionError(`${spec.key} (--${spec.flag})`, '', 'expected a value');
    }
    flags.set(spec, { raw, as: `--${spec.flag}` });
  }
  return { flags, positionals, positionalAt };
}

export function resolveOptions<T>(specs: readonly OptionSpec[], layers: OptionLayers): Resolved<T> {
  const { flags, positionals } = parseArgv(specs, layers.argv);
  const file = layers.file;
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    throw new InvalidOptionError('config file', file, 'expected a JSON object');
  }
  const fileObj = (file ?? {}) as Record<string, unknown>;
  const known = new Set(specs.map((s) => s.key));
  for (const k of Object.keys(fileObj)) {
    if (!known.has(k))
      throw new InvalidOptionError(`config file key ${k}`, fileObj[k], 'unknown option');
  }
  const out: Record<string, unknown> = {};
  const explicit = new Set<string>();
  const viaAlias = new Set<string>();
  for (const spec of specs) {
    let value = spec.default;
    const set = (raw: unknown, source: string) => {
      try {
        value = spec.parse(raw);
      } catch (err) {
        fail(spec, source, raw, err);
      }
      explicit.add(spec.key);
    };
    if (spec.key in fileObj) set(fileObj[spec.key], 'config file');
    for (const alias of spec.aliases ?? []) {
      const name = typeof alias === 'string' ? alias : alias.env;
      const raw = layers.env[name];
      if (raw === undefined) continue;
      set(typeof alias === 'string' ? raw : alias.map(raw), name);
      viaAlias.add(spec.key);
    }
    const envRaw = layers.env[spec.env];
    if (envRaw !== undefined) set(envRaw, spec.env);
    const flag = flags.get(spec);
    if (flag) set(flag.raw, flag.as);
    out[spec.key] = value;
  }
  return { options: out as T, explicit, viaAlias, positionals };
}

/** `socketforwarder.tcp.port` -> `SOCKETFORWARDER_TCP_PORT`, for shells that cannot set dots. */
export function underscoreSpelling(key: string): string {
  return key.toUpperCase().replace(/\./g, '_');
}
