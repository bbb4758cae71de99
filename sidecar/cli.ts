import { EXIT_CODES_HELP, EXIT_USAGE } from '../api/cli/common.ts';
import { groupsCommand } from '../api/cli/groups.ts';
import { sendCommand } from '../api/cli/send.ts';
import { tailCommand } from '../api/cli/tail.ts';
import { serve } from './serve.ts';
import { createToken, TOKEN_HELP } from './token.ts';

const HELP = `Usage: groupcast <command> [options]

Commands:
  serve                      start the sidecar (the default; see groupcast serve --help)
  tail <group>               print a group's messages as they arrive; resumes after reconnects
  send <group> [message]     publish the message, or each line of standard input
  groups                     list the groups and their members
  token                      print a signed token for the configured secret (see groupcast token --help)

Each command takes --help. The client commands talk to --url (GROUPCAST_URL,
default http://127.0.0.1:7480) with --token (GROUPCAST_TOKEN) when auth is on.

${EXIT_CODES_HELP}`;

const CLIENT_COMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  tail: tailCommand,
  send: sendCommand,
  groups: groupsCommand,
};

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
  const run = CLIENT_COMMANDS[command];
  if (run) {
    const code = await run(rest);
    // Flush stdout before leaving: a piped consumer must get every line.
    process.stdout.write('', () => process.exit(code));
    return;
  }
  if (command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  process.stderr.write(
    `groupcast: unknown command ${JSON.stringify(command)}; see groupcast --help\n`,
  );
  process.exit(EXIT_USAGE);
}
