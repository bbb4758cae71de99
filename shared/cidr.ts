/**
 * Source-address allowlists: `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`. IPv4-mapped IPv6
 * addresses (`::ffff:10.1.2.3`) match IPv4 rules. An empty list allows everything.
 */
export type AddressMatcher = (ip: string) => boolean;

interface Rule {
  bytes: Uint8Array;
  bits: number;
}

function parseV4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | null {
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = parseV4(text.slice(lastColon + 1));
    if (!tail) return null;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const group = (h: string) => (h === '' ? [] : h.split(':'));
  const head = group(halves[0]);
  const rest = halves.length === 2 ? group(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return null;
  const words = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/i.test(words[i])) return null;
    const n = Number.parseInt(words[i], 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 255;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** IPv4 as 4 bytes, IPv6 as 16, IPv4-mapped IPv6 as its 4 IPv4 bytes; null if not an IP. */
export function parseIp(ip: string): Uint8Array | null {
  const text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!text.includes(':')) return parseV4(text);
  const v6 = parseV6(text);
  if (!v6) return null;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 255 && v6[11] === 255;
  return mapped ? v6.slice(12) : v6;
}

/** Parses a CIDR list; throws an Error naming the bad entry. */
export function compileAllowlist(entries: readonly string[]): AddressMatcher {
  if (entries.length === 0) return () => true;
  const rules: Rule[] = entries.map((entry) => {
    const [addr, bitsText] = entry.split('/');
    const bytes = parseIp(addr);
    const max = bytes ? bytes.length * 8 : 0;
    const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
    if (!bytes || bits < 0 || bits > max)
      throw new Error(`not an IP address or CIDR range: ${entry}`);
    return { bytes, bits };
  });
  return (ip) => {
    const bytes = parseIp(ip);
    if (!bytes) return false;
    return rules.some(
      (r) => r.bytes.length === bytes.length && prefixEqual(r.bytes, bytes, r.bits),
    );
  };
}

function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(ip: string): boolean {
  const bytes = parseIp(ip);
  if (!bytes) return ip === 'localhost';
  if (bytes.length === 4) return bytes[0] === 127;
  return bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1;
}
