import { globMatch } from '../../shared/glob.ts';
import type { HubPort } from '../hub-port.ts';
import {
  arityOk,
  COMMANDS,
  commandInfo,
  REDIS_COMPAT_VERSION,
  SUBCOMMANDS,
} from './resp-commands.ts';
import {
  arrayHeader,
  bulk,
  error,
  integer,
  mapHeader,
  nil,
  type Proto,
  verbatim,
} from './resp-encode.ts';

/**
 * The commands that tell about the server and its channels (COMMAND, INFO, PUBSUB): each takes
 * the arguments and answers one reply, changing nothing.
 */

export function commandReply(args: Buffer[], proto: Proto): Buffer {
  const names = Object.keys(COMMANDS);
  if (args.length === 1) {
    return Buffer.concat([arrayHeader(names.length), ...names.map((n) => commandInfo(n, proto))]);
  }
  const given = args[1].toString('utf8');
  const sub = given.toLowerCase();
  if (sub === 'count' && args.length === 2) return integer(names.length);
  if (sub === 'info') {
    const asked = args.slice(2).map((a) => a.toString('utf8').toLowerCase());
    const list = asked.length > 0 ? asked : names;
    return Buffer.concat([
      arrayHeader(list.length),
      ...list.map((n) => (Object.hasOwn(COMMANDS, n) ? commandInfo(n, proto) : nil(proto))),
    ]);
  }
  if (sub === 'docs') return mapHeader(0, proto);
  return error(`ERR unknown subcommand '${given}'. Try COMMAND HELP.`);
}

export interface InfoContext {
  node: string;
  port: number;
  startedAt: number;
  clients: number;
}

export function infoReply(args: Buffer[], proto: Proto, ctx: InfoContext): Buffer {
  const wanted = new Set(args.slice(1).map((a) => a.toString('utf8').toLowerCase()));
  const all = wanted.size === 0 || ['default', 'all', 'everything'].some((s) => wanted.has(s));
  const sections: string[] = [];
  if (all || wanted.has('server')) {
    const up = Math.floor((Date.now() - ctx.startedAt) / 1000);
    sections.push(
      section('Server', [
        ['redis_version', REDIS_COMPAT_VERSION],
        ['redis_mode', 'standalone'],
        ['groupcast_node', ctx.node],
        ['os', `${process.platform} ${process.arch}`],
        ['arch_bits', '64'],
        ['process_id', String(process.pid)],
        ['tcp_port', String(ctx.port)],
        ['uptime_in_seconds', String(up)],
        ['uptime_in_days', String(Math.floor(up / 86400))],
      ]),
    );
  }
  if (all || wanted.has('clients')) {
    sections.push(section('Clients', [['connected_clients', String(ctx.clients)]]));
  }
  return verbatim(sections.join('\r\n'), proto);
}

function section(title: string, fields: [string, string][]): string {
  return `# ${title}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`;
}

/** PUBSUB: the channels (groups) of this sidecar and their members, every transport counted. */
export function pubsubReply(args: Buffer[], hub: HubPort): Buffer {
  const given = args[1].toString('utf8');
  const sub = given.toLowerCase();
  const arity = SUBCOMMANDS[`pubsub|${sub}`];
  if (arity === undefined) return error(`ERR unknown subcommand '${given}'. Try PUBSUB HELP.`);
  if (!arityOk(arity, args.length)) {
    return error(`ERR wrong number of arguments for 'pubsub|${sub}' command`);
  }
  if (sub === 'numpat') return integer(hub.patterns.distinct());
  if (sub === 'channels' || sub === 'shardchannels') {
    if (args.length > 3) {
      return error(
        `ERR unknown subcommand or wrong number of arguments for '${given}'. Try PUBSUB HELP.`,
      );
    }
    const pattern = args[2];
    const names: Buffer[] = [];
    for (const g of hub.allGroups()) {
      if (g.anchored === 0) continue;
      const name = Buffer.from(g.name);
      if (!pattern || globMatch(pattern, name)) names.push(name);
    }
    return Buffer.concat([arrayHeader(names.length), ...names.map((n) => bulk(n))]);
  }
  // NUMSUB / SHARDNUMSUB: members of every transport, pattern followers aside (as Redis counts).
  const names = args.slice(2);
  return numsubReply(
    names,
    names.map((a) => hub.findGroup(a.toString('utf8'))?.anchored ?? 0),
  );
}

/** PUBSUB NUMSUB's reply: each channel and its count. */
export function numsubReply(names: Buffer[], counts: number[]): Buffer {
  const parts: Buffer[] = [arrayHeader(names.length * 2)];
  for (let i = 0; i < names.length; i++) parts.push(bulk(names[i]), integer(counts[i]));
  return Buffer.concat(parts);
}

/** Whether a PUBSUB command is a well-formed NUMSUB or SHARDNUMSUB (counted across nodes). */
export function isNumsub(args: Buffer[]): boolean {
  if (args.length < 2) return false;
  const sub = args[1].toString('latin1').toLowerCase();
  return sub === 'numsub' || sub === 'shardnumsub';
}
