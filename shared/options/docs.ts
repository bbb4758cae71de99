import { CLI_OPTIONS } from './cli.ts';
import { EDGE_OPTIONS } from './edge.ts';
import type { OptionSpec } from './resolve.ts';
import { SIDECAR_OPTIONS } from './sidecar.ts';

/**
 * docs/configuration.md, written from the option specs so the reference cannot drift from the
 * code: `npm run docs:config` writes it, and a test fails when the file differs from this.
 */
export function configurationDoc(): string {
  return [
    '<!-- Generated from shared/options/*.ts by `npm run docs:config`: edit the option specs, not',
    '     this file. test/docs-config.test.ts fails when it is out of date. -->',
    '',
    '# Configuration',
    '',
    'Options resolve once at start-up: defaults, then an optional JSON file (`--config`, sidecar',
    'only), then the environment (SocketForwarder keys, then `GROUPCAST_*`), then command-line',
    'flags. The result is validated and frozen; a bad value stops start-up (exit 2) with one line',
    'naming the option, where it came from and the value, before anything listens.',
    '',
    '- Sizes take `KiB`/`MiB`/`GiB` (or `KB`/`MB`/`GB`); durations take `ms`/`s`/`m`/`h`.',
    '- A port of `0` picks a free one and `off` turns that listener off.',
    '- Lists are comma-separated. Boolean flags take no value: `--dashboard`, `--no-dashboard`.',
    "- SocketForwarder's own keys (shown under each option) also work with underscores for",
    '  shells that cannot set dotted names: `SOCKETFORWARDER_TCP_PORT`, and so on. Started with',
    "  any of them, SocketForwarder's defaults apply to what you did not set (see",
    '  [socketforwarder.md](socketforwarder.md)).',
    '- `groupcast serve --help`, `npx deno task edge --help` and `groupcast <command> --help`',
    '  print these tables.',
    '',
    '## Sidecar: `npm start`, `groupcast serve`',
    '',
    'The config file (`--config file.json`) takes the keys in the first column.',
    '',
    table(SIDECAR_OPTIONS),
    '',
    '## Edge worker: `npx deno task edge`',
    '',
    'The options the edge shares with the sidecar read the same names; the edge has no config file.',
    '',
    table(EDGE_OPTIONS),
    '',
    '## Command line: `groupcast tail | send | groups`',
    '',
    table(CLI_OPTIONS),
    '',
  ].join('\n');
}

function table(specs: readonly OptionSpec[]): string {
  const rows = [
    ['key', 'environment', 'flag', 'default', 'meaning'],
    ...specs.map((s) => [
      `\`${s.key}\``,
      `\`${s.env}\``,
      `\`--${s.flag}\``,
      defaultText(s),
      meaning(s),
    ]),
  ].map((cells) => cells.map((c) => c.replace(/\|/g, '\\|')));
  // Columns padded as the formatter (biome) pads Markdown tables, so `npm run lint` agrees.
  const widths = rows[0].map((_, i) => Math.max(3, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const [head, ...body] = rows;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function defaultText(s: OptionSpec): string {
  if (s.defaultDoc !== undefined) return s.defaultDoc;
  if (s.default === null || (Array.isArray(s.default) && s.default.length === 0)) return 'none';
  if (s.boolean) return s.default ? 'on' : 'off';
  return String(s.default);
}

/** The doc line, plus SocketForwarder's names for the option (dotted; underscores also work). */
function meaning(s: OptionSpec): string {
  const names = (s.aliases ?? [])
    .map((a) => (typeof a === 'string' ? a : a.env))
    .filter((n) => n.includes('.'))
    .map((n) => `\`${n}\``);
  return names.length ? `${s.doc} (SocketForwarder: ${names.join(', ')})` : s.doc;
}
