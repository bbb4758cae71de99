import type { Group } from './group.ts';
import type { Member } from './member.ts';

/** A member came into a group or went; what SSE `event: join|leave` and RESP presence carry. */
export interface PresenceEvent {
  type: 'join' | 'leave';
  group: string;
  member: string;
  transport: Member['transport'];
  remote: string;
  node: string;
  /** The client's name, where it set one (a Redis client's CLIENT SETNAME). */
  name?: string;
  at: string;
}

/** Called with the event and its JSON (encoded once for every listener). Never throws. */
export type PresenceListener = (event: PresenceEvent, json: string) => void;

/** The backplane: shares this node's events and brings other nodes' for the groups watched here. */
export interface PresenceShare {
  watchPresence(group: string): void;
  unwatchPresence(group: string): void;
  sharePresence(group: string, json: string): void;
}

/**
 * Who listens to the comings and goings of which group: SSE streams opened with
 * `?presence=true` and RESP clients subscribed to a group's presence channel. Listeners are
 * kept by group name, so they outlive the group itself (a group with no members is dropped
 * and created again). Pattern followers are not reported: they are not in a group by choice.
 */
export class Presence {
  readonly #node: string;
  readonly #byGroup = new Map<string, Set<PresenceListener>>();
  /** Set by the hub when it shares groups with other nodes. */
  cluster: PresenceShare | null = null;

  constructor(node: string) {
    this.#node = node;
  }

  on(group: string, listener: PresenceListener): void {
    let set = this.#byGroup.get(group);
    if (!set) {
      set = new Set();
      this.#byGroup.set(group, set);
      this.cluster?.watchPresence(group);
    }
    set.add(listener);
  }

  off(group: string, listener: PresenceListener): void {
    const set = this.#byGroup.get(group);
    if (!set?.delete(listener)) return;
    if (set.size > 0) return;
    this.#byGroup.delete(group);
    this.cluster?.unwatchPresence(group);
  }

  emit(type: PresenceEvent['type'], group: Group, m: Member): void {
    const set = this.#byGroup.get(group.name);
    if (!set && !this.cluster) return;
    // Messages of this turn go out first, so an event is never seen before what preceded it.
    if (set) group.sseFanout.flush();
    const event: PresenceEvent = {
      type,
      group: group.name,
      member: m.id,
      transport: m.transport,
      remote: m.remote,
      node: this.#node,
      ...(m.name ? { name: m.name } : {}),
      at: new Date().toISOString(),
    };
    const json = JSON.stringify(event);
    // Every node's listeners, whether or not any listen here.
    this.cluster?.sharePresence(group.name, json);
    if (set) for (const listener of [...set]) listener(event, json);
  }

  /**
   * An event another node shared (see PresenceShare). Only what looks like one reaches the
   * listeners: a Redis shared with other programs may carry anything on the channel.
   */
  fromNode(group: string, json: string): boolean {
    const set = this.#byGroup.get(group);
    let event: PresenceEvent;
    try {
      event = JSON.parse(json) as PresenceEvent;
    } catch {
      return false;
    }
    if (
      typeof event !== 'object' ||
      event === null ||
      (event.type !== 'join' && event.type !== 'leave') ||
      event.group !== group ||
      typeof event.node !== 'string'
    ) {
      return false;
    }
    // Its own events reached its listeners when they happened.
    if (event.node === this.#node || !set) return true;
    for (const listener of [...set]) listener(event, json);
    return true;
  }
}
