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

  constructor(prefix: string) {
    this.prefix = prefix;
    this.nodes = `${prefix}nodes`;
    this.groups = `${prefix}groups`;
    this.channelPrefix = `${prefix}ch:`;
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
