/**
 * Redis names of one cluster, all under one prefix. The group id comes last in every name, so a
 * group id holding `:` cannot collide with another group's keys.
 */
export class RedisKeys {
  readonly prefix: string;
  /** Sorted set: node id -> when it expires (Redis clock, ms). */
  readonly nodes: string;
  /** Sorted set: group -> when its shared history expires (Redis clock, ms). */
  readonly groups: string;
  /** Channel names start with this; the group id follows. */
  readonly channelPrefix: string;
  /** Presence channel names start with this; the group id follows (outside channelPrefix). */
  readonly presencePrefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.nodes = `${prefix}nodes`;
    this.groups = `${prefix}groups`;
    this.channelPrefix = `${prefix}ch:`;
    this.presencePrefix = `${prefix}presence:`;
  }

  /** Channel: JSON join and leave events of one group's members, from every node. */
  presence(group: string): string {
    return `${this.presencePrefix}${group}`;
  }

  /**
   * The Redis pattern that matches the channels of the groups a client's glob matches: the
   * channel prefix taken literally (its glob characters escaped), then the glob as is (groupcast
   * matches patterns with Redis's own glob rules).
   */
  pattern(glob: string): string {
    return `${escapeGlob(this.channelPrefix)}${glob}`;
  }

  /** Hash: epoch, seq (newest issued), evicted (newest dropped from history), bytes (held). */
  meta(group: string): string {
    return `${this.prefix}meta:${group}`;
  }

  /** Hash: batch field -> shared batch (see codec.ts), for every batch the history holds. */
  blobs(group: string): string {
    return `${this.prefix}blobs:${group}`;
  }

  /** List, oldest first: `<last seq> <bytes> <field in blobs>` of each batch the history holds. */
  index(group: string): string {
    return `${this.prefix}index:${group}`;
  }

  channel(group: string): string {
    return `${this.channelPrefix}${group}`;
  }

  /** Hash: group -> `<tcp> <udp> <sse>` member counts on a node. */
  nodeGroups(node: string): string {
    return `${this.prefix}counts:${node}`;
  }

  /** Hash: member id -> JSON member info, for one group on one node. */
  nodeMembers(node: string, group: string): string {
    return `${this.prefix}members:${node}:${group}`;
  }
}

/** `s` as a Redis glob that matches only itself. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
