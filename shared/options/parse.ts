/** Value parsers for options. Each takes what a file, env var or flag gave and returns the typed value or throws a reason. */

export class Reason extends Error {}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function withUnit(raw: unknown, units: Record<string, number>, what: string): number {
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (typeof raw !== 'string') throw new Reason(what);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? units[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Reason(what);
  return Number(m[1]) * unit;
}

export function parseInteger(raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new Reason(`an integer from ${min} to ${max}`);
  }
  return n;
}

export function parseBytes(raw: unknown, min: number, max: number): number {
  const what = `a size in bytes from ${min} to ${max} (units: KiB, MiB, GiB, KB, MB, GB)`;
  const n = Math.round(withUnit(raw, SIZE_UNITS, what));
  if (n < min || n > max) throw new Reason(what);
  return n;
}

export function parseDuration(raw: unknown, min: number, max: number): number {
  const what = `a duration from ${min} ms to ${max} ms (a number of ms, or with ms, s, m, h)`;
  const n = Math.round(withUnit(raw, TIME_UNITS, what));
  if (n < min || n > max) throw new Reason(what);
  return n;
}

/** A TCP/UDP port, or null when the listener is turned off. */
export function parsePort(raw: unknown): number | null {
  if (raw === null || raw === false) return null;
  if (typeof raw === 'string' && /^\s*(off|none|false|disabled)\s*$/i.test(raw)) return null;
  try {
    return parseInteger(raw, 0, 65535);
  } catch {
    throw new Reason('a port from 0 to 65535, or off');
  }
}

export function parseBool(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    // SocketForwarder treats a set key as on, whatever its value; so does an empty string here.
    if (/^\s*(|1|true|yes|on)\s*$/i.test(raw)) return true;
    if (/^\s*(0|false|no|off)\s*$/i.test(raw)) return false;
  }
  throw new Reason('true or false');
}

export function parseEnum<T extends string>(raw: unknown, values: readonly T[]): T {
  if (typeof raw === 'string' && (values as readonly string[]).includes(raw.trim())) {
    return raw.trim() as T;
  }
  throw new Reason(`one of ${values.join(', ')}`);
}

export function parseString(raw: unknown, allowEmpty = false): string {
  if (typeof raw !== 'string' || (!allowEmpty && raw.length === 0)) {
    throw new Reason(allowEmpty ? 'a string' : 'a non-empty string');
  }
  return raw;
}

/** A comma-separated list (or a JSON array in a config file); blanks are dropped. */
export function parseList(raw: unknown): string[] {
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) {
    return raw.map((x) => x.trim()).filter(Boolean);
  }
  if (typeof raw === 'string') {
    return raw
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  }
  throw new Reason('a comma-separated list');
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, with `[v6]:port` or a bare IPv6 address before the last colon. */
export function parseHostPort(text: string): HostPort {
  const at = text.lastIndexOf(':');
  if (at <= 0) throw new Reason(`host:port, got ${JSON.stringify(text)}`);
  let host = text.slice(0, at);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = parseInteger(text.slice(at + 1), 1, 65535);
  if (!host) throw new Reason(`host:port, got ${JSON.stringify(text)}`);
  return { host, port };
}

export interface GroupHostPort extends HostPort {
  group: string;
}

/** `group:host:port`: the group ends at the first colon, the port follows the last (so IPv6 hosts work). */
export function parseGroupHostPort(text: string): GroupHostPort {
  const first = text.indexOf(':');
  if (first <= 0) throw new Reason(`group:host:port, got ${JSON.stringify(text)}`);
  return { group: text.slice(0, first), ...parseHostPort(text.slice(first + 1)) };
}

export function parseUrl(raw: unknown, schemes: readonly string[]): string {
  const s = parseString(raw);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Reason(`a URL (${schemes.join(', ')})`);
  }
  if (!schemes.includes(url.protocol.replace(/:$/, ''))) {
    throw new Reason(`a URL with scheme ${schemes.join(' or ')}`);
  }
  return s;
}
