import { CLI_FORMAT, CLI_TOKEN, CLI_URL } from '../../shared/options/cli.ts';
import { type Command, clientFor, EXIT_OK, runCommand, writeOut } from './common.ts';

export const GROUPS: Command = {
  name: 'groups',
  args: '',
  summary: 'Lists the groups with their members by transport and their last message id.',
  details: [],
  options: [CLI_URL, CLI_TOKEN, CLI_FORMAT],
  minArgs: 0,
  maxArgs: 0,
};

/** Left-aligned text columns, two spaces apart; numbers right-aligned. */
export function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function groupsCommand(argv: readonly string[]): Promise<number> {
  return runCommand(GROUPS, argv, async ({ options }) => {
    const groups = await clientFor(options).groups();
    if (options.format === 'json') {
      await writeOut(`${JSON.stringify({ groups })}\n`);
      return EXIT_OK;
    }
    if (groups.length === 0) {
      await writeOut('no groups\n');
      return EXIT_OK;
    }
    const rows = groups.map((g) => [
      g.group,
      String(g.counts.tcp),
      String(g.counts.udp),
      String(g.counts.sse),
      String(g.counts.resp ?? 0),
      g.lastId ?? '-',
    ]);
    const header = ['GROUP', 'TCP', 'UDP', 'SSE', 'RESP', 'LAST ID'];
    await writeOut(`${table(header, rows, [false, true, true, true, true, false])}\n`);
    return EXIT_OK;
  });
}
