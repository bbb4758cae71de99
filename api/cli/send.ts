import { CLI_FORMAT, CLI_TOKEN, CLI_URL } from '../../shared/options/cli.ts';
import { type Command, clientFor, EXIT_OK, runCommand, writeOut } from './common.ts';
import { splitLines } from './lines.ts';

export const SEND: Command = {
  name: 'send',
  args: '<group> [message]',
  summary: 'Publishes a message into a group: the argument, or else each line of standard input.',
  details: [
    'Prints the id of each message sent (json: {"id","recipients"} a line). Lines end at LF (a CR before it is dropped; a lone CR stays in the line), are sent in order, one request each; blank lines are skipped. The first failure stops the command (exit 1) and names the line.',
  ],
  options: [CLI_URL, CLI_TOKEN, CLI_FORMAT],
  minArgs: 1,
  maxArgs: 2,
};

export function sendCommand(argv: readonly string[]): Promise<number> {
  return runCommand(SEND, argv, async ({ options, args }) => {
    const [group, message] = args;
    const client = clientFor(options);
    const report = async (ids: string[], recipients: number) => {
      for (const id of ids) {
        await writeOut(
          options.format === 'json' ? `${JSON.stringify({ id, recipients })}\n` : `${id}\n`,
        );
      }
    };
    if (message !== undefined) {
      const r = await client.publish(group, message);
      await report(r.ids, r.recipients);
      return EXIT_OK;
    }
    // Lines end where line framing ends them (LF, or CRLF), never at a lone CR.
    let n = 0;
    for await (const line of splitLines(process.stdin)) {
      n++;
      if (line === '') continue;
      try {
        const r = await client.publish(group, line);
        await report(r.ids, r.recipients);
      } catch (err) {
        (err as Error).message = `line ${n}: ${(err as Error).message}`;
        throw err;
      }
    }
    return EXIT_OK;
  });
}
