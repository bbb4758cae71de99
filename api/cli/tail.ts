import { toBase64 } from '../../shared/bytes.ts';
import type { SubscriptionStatus } from '../../shared/client/subscription.ts';
import {
  CLI_FORMAT,
  CLI_FROM,
  CLI_LAST_EVENT_ID,
  CLI_TOKEN,
  CLI_URL,
} from '../../shared/options/cli.ts';
import { type Command, clientFor, EXIT_OK, errorLine, runCommand, writeOut } from './common.ts';

export const TAIL: Command = {
  name: 'tail',
  args: '<group>',
  summary: 'Prints the messages of a group as they arrive, until Ctrl-C (exit 0).',
  details: [
    'text: one message a line (a binary payload as "base64:<data>"); reconnections and gaps are reported on stderr. json: one object a line on stdout: {"type":"message","id","time","encoding":"utf8"|"base64","data"} (time: when the sidecar received it, ms since the epoch) or {"type":"gap","requested","resumedFrom","reason"}.',
    'When the connection drops it reconnects with backoff (250 ms doubling to 30 s) and resumes after the last message printed, so nothing the server still holds is missed; what it no longer holds is reported as a gap.',
  ],
  options: [CLI_URL, CLI_TOKEN, CLI_FORMAT, CLI_FROM, CLI_LAST_EVENT_ID],
  minArgs: 1,
  maxArgs: 1,
};

function statusLine(s: SubscriptionStatus): string | null {
  switch (s.type) {
    case 'reconnecting':
      return `reconnecting in ${(s.delayMs / 1000).toFixed(1)} s (${errorLine(s.error)})`;
    case 'closed-by-server':
      return `the server ended the stream: ${s.code} ${s.message}`;
    default:
      return null;
  }
}

export function tailCommand(argv: readonly string[]): Promise<number> {
  return runCommand(TAIL, argv, async ({ options, args }) => {
    const json = options.format === 'json';
    let reconnecting = false;
    const sub = clientFor(options).subscribe(args[0], {
      from: options.from,
      lastEventId: options.lastEventId ?? undefined,
      onStatus: (s) => {
        if (s.type === 'reconnecting') reconnecting = true;
        if (s.type === 'live' && reconnecting) {
          reconnecting = false;
          process.stderr.write('groupcast tail: reconnected\n');
        }
        const line = statusLine(s);
        if (line) process.stderr.write(`groupcast tail: ${line}\n`);
      },
    });
    const stop = () => sub.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // `groupcast tail x | head` closes stdout: stop quietly.
    process.stdout.on('error', stop);
    try {
      for await (const e of sub) {
        let out: string;
        if (e.type === 'gap') {
          if (!json) {
            const from = e.resumedFrom ?? 'the next message';
            process.stderr.write(
              `groupcast tail: gap: messages after ${e.requested} are lost (${e.reason}); resuming from ${from}\n`,
            );
            continue;
          }
          out = JSON.stringify(e);
        } else if (json) {
          out = JSON.stringify({
            type: 'message',
            id: e.id,
            time: e.time,
            encoding: e.binary ? 'base64' : 'utf8',
            data: e.binary ? toBase64(e.data) : e.text,
          });
        } else {
          out = e.binary ? `base64:${toBase64(e.data)}` : e.text;
        }
        if (!(await writeOut(`${out}\n`))) break;
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      sub.close();
    }
    return EXIT_OK;
  });
}
