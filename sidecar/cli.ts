import { serve } from './serve.ts';
import { createToken, TOKEN_HELP } from './token.ts';

const HELP = `Usage: groupcast <command> [options]

Commands:
  serve     start the sidecar (the default; see groupcast serve --help)
  token     print a signed token for the configured secret (see groupcast token --help)

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or option.`;

/** `groupcast [command] ...`: dispatches to a command; `serve` when none is given. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command.startsWith('-') || /^\d+$/.test(command)) {
    if (command === '--help' || command === '-h') {
      process.stdout.write(`${HELP}\n`);
      return;
    }
    await serve(argv);
    return;
  }
  if (command === 'serve') {
    await serve(rest);
    return;
  }
  if (command === 'token') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${TOKEN_HELP}\n`);
      return;
    }
    try {
      process.stdout.write(`${await createToken(rest, process.env)}\n`);
    } catch (err) {
      process.stderr.write(
        `groupcast token: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(2);
    }
    return;
  }
  process.stderr.write(
    `groupcast: unknown command ${JSON.stringify(command)}; see groupcast --help\n`,
  );
  process.exit(2);
}
