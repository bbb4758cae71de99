import { HttpClient } from '../../shared/client/http.ts';
import { GroupcastError, RemoteError } from '../../shared/errors.ts';
import type { CliOptions } from '../../shared/options/cli.ts';
import { type OptionSpec, resolveOptions } from '../../shared/options/resolve.ts';

/** Exit codes shared by every command (documented in docs/cli.md and in `--help`). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const EXIT_CODES_HELP =
  'Exit codes: 0 ok, 1 runtime failure (server unreachable or an error answer), 2 bad usage or option.';

export interface Command {
  name: string;
  /** `<group> [message]`, shown after the command name. */
  args: string;
  summary: string;
  /** Extra help paragraphs. */
  details: string[];
  options: readonly OptionSpec[];
  minArgs: number;
  maxArgs: number;
}

export function helpText(cmd: Command): string {
  const rows = cmd.options.map((s) => {
    const def = s.defaultDoc ?? String(s.default);
    return `  --${s.flag.padEnd(16)} ${s.env.padEnd(26)} ${s.doc} [default: ${def}]`;
  });
  return [
    `Usage: groupcast ${cmd.name} ${cmd.args} [options]`,
    '',
    cmd.summary,
    ...cmd.details.map((d) => `\n${d}`),
    '',
    'Options (flag, environment name, meaning):',
    ...rows,
    `${'  --help, -h'.padEnd(48)} this text`,
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

/** Wrong arguments for a command (exit 2). */
export class UsageError extends GroupcastError {
  constructor(message: string) {
    super('INVALID_OPTION', message);
  }
}

/** Options and positional arguments, or a UsageError / InvalidOptionError. */
export function parseCommand(
  cmd: Command,
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { options: CliOptions; args: string[] } {
  const { options, positionals } = resolveOptions<CliOptions>(cmd.options, { env, argv });
  const args = positionals.filter((a) => a !== '--');
  if (args.length < cmd.minArgs || args.length > cmd.maxArgs) {
    const what = args.length < cmd.minArgs ? 'missing arguments' : 'too many arguments';
    throw new UsageError(`${what}; usage: groupcast ${cmd.name} ${cmd.args} [options]`);
  }
  return { options, args };
}

export function clientFor(options: CliOptions): HttpClient {
  return new HttpClient({ url: options.url, token: options.token ?? undefined });
}

/** One line for an error, whatever it is. */
export function errorLine(err: unknown): string {
  if (err instanceof RemoteError) {
    const status = err.status ? ` (HTTP ${err.status})` : '';
    return `${err.remoteCode}: ${err.message}${status}`;
  }
  if (err instanceof GroupcastError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Runs a command body, turning every failure into one stderr line and its exit code. */
export async function runCommand(
  cmd: Command,
  argv: readonly string[],
  body: (parsed: { options: CliOptions; args: string[] }) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText(cmd)}\n`);
    return EXIT_OK;
  }
  let parsed: { options: CliOptions; args: string[] };
  try {
    parsed = parseCommand(cmd, argv, process.env);
  } catch (err) {
    const line = errorLine(err);
    const hint = line.includes('--help') ? '' : '; see --help';
    process.stderr.write(`groupcast ${cmd.name}: ${line}${hint}\n`);
    return EXIT_USAGE;
  }
  try {
    return await body(parsed);
  } catch (err) {
    // A group id the client refuses is bad usage, not a runtime failure.
    const usage = err instanceof GroupcastError && err.code === 'INVALID_GROUP_ID';
    process.stderr.write(`groupcast ${cmd.name}: ${errorLine(err)}\n`);
    return usage ? EXIT_USAGE : EXIT_FAILURE;
  }
}

/** Writes to stdout, waiting when the pipe is full; false once stdout is gone (EPIPE). */
export function writeOut(text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed) {
      resolve(false);
      return;
    }
    if (process.stdout.write(text)) resolve(true);
    else process.stdout.once('drain', () => resolve(true));
  });
}
