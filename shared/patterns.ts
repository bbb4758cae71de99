/**
 * Group patterns with `*` wildcards (`lobby*`, `*`, `game-*-chat`), as used in token claims and
 * join-secret lists. `*` matches any run of characters, including none; nothing else is special.
 */
export type GroupMatcher = (group: string) => boolean;

const NOTHING: GroupMatcher = () => false;
const EVERYTHING: GroupMatcher = () => true;

export function compilePatterns(patterns: readonly string[]): GroupMatcher {
  if (patterns.length === 0) return NOTHING;
  if (patterns.includes('*')) return EVERYTHING;
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const wild = patterns.filter((p) => p.includes('*'));
  if (wild.length === 0) return (g) => exact.has(g);
  const re = new RegExp(
    `^(?:${wild.map((p) => p.split('*').map(escapeRegExp).join('.*')).join('|')})$`,
    'su',
  );
  return (g) => exact.has(g) || re.test(g);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
