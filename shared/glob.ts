/**
 * Redis glob patterns (PSUBSCRIBE, PUBSUB CHANNELS), matched byte by byte as Redis does: `*` any
 * run of bytes, `?` one byte, `[abc]`, `[a-z]`, `[^abc]` a set, `\x` the byte x itself.
 * The matcher backtracks only to the last `*`, so a match costs at most pattern x subject steps
 * whatever the pattern (no exponential blow-up on `a*a*a*...b`).
 */
export function globMatch(pattern: Uint8Array, subject: Uint8Array): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (p < pattern.length) {
      const c = pattern[p];
      if (c === STAR) {
        // Runs of stars are one star.
        while (p < pattern.length && pattern[p] === STAR) p++;
        if (p === pattern.length) return true;
        starP = p;
        starS = s;
        continue;
      }
      const step = matchOne(pattern, p, subject[s]);
      if (step > 0) {
        p += step;
        s++;
        continue;
      }
    }
    if (starP < 0) return false;
    // Let the last star take one more byte and try again from there.
    p = starP;
    s = ++starS;
  }
  while (p < pattern.length && pattern[p] === STAR) p++;
  return p === pattern.length;
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const DASH = 0x2d;

/**
 * Matches one pattern element at `p` (not a star) against byte `b`: how many pattern bytes it
 * took when it matched, 0 when not.
 */
function matchOne(pattern: Uint8Array, p: number, b: number): number {
  const c = pattern[p];
  if (c === QUESTION) return 1;
  if (c === BACKSLASH && p + 1 < pattern.length) return pattern[p + 1] === b ? 2 : 0;
  if (c !== OPEN) return c === b ? 1 : 0;
  // A set: as in Redis, an unterminated set runs to the end of the pattern.
  let i = p + 1;
  const negate = pattern[i] === CARET;
  if (negate) i++;
  let hit = false;
  while (i < pattern.length && pattern[i] !== CLOSE) {
    if (pattern[i] === BACKSLASH && i + 1 < pattern.length) {
      if (pattern[i + 1] === b) hit = true;
      i += 2;
    } else if (i + 2 < pattern.length && pattern[i + 1] === DASH && pattern[i + 2] !== CLOSE) {
      let lo = pattern[i];
      let hi = pattern[i + 2];
      if (lo > hi) [lo, hi] = [hi, lo];
      if (b >= lo && b <= hi) hit = true;
      i += 3;
    } else {
      if (pattern[i] === b) hit = true;
      i++;
    }
  }
  const end = i < pattern.length ? i + 1 : i;
  return hit !== negate ? end - p : 0;
}
