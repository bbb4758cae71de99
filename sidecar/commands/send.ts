import { createInterface } from 'node:readline';
import { CLI_FORMAT, CLI_TOKEN, CLI_URL } from '../../shared/options/cli.ts';
import { type Command, clientFor, EXIT_OK, runCommand, writeOut } from './common.ts';

export const SEND: Command = {
  name: 'send',
  args: '<group> [message]',
  summary: 'Publishes a message into a group: the argument, or else each line of standard input.',
  details: [
    'Prints the id of each message sent (json: {"id","recipients"} a line). Lines are sent in order, one request each; blank lines are skipped. The first failure stops the command (exit 1) and names the line.',
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
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    let n = 0;
    try {
      for await (const line of lines) {
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
    } finally {
      lines.close();
    }
    return EXIT_OK;
  });
}
