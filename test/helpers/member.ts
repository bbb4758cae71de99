import type { GroupcastError } from '../../shared/errors.ts';
import type { MemberInfo, Subscriber, TakenListener } from '../../shared/hub.ts';
import type { Batch } from '../../shared/message.ts';
import type { Group } from '../../sidecar/group.ts';
import { type Member, Progress } from '../../sidecar/member.ts';

/**
 * A group member of the test's own kind, for unit tests of the group and the hub: the group
 * sees only the Member interface, so this is one more transport, one that keeps what it is
 * handed and whose connection takes bytes when the test says so (`take`).
 */
export class RecordingMember implements Member {
  readonly id: string;
  readonly transport: MemberInfo['transport'];
  readonly remote = '127.0.0.1:1';
  readonly joinedAt = Date.now();
  readonly needsIds: boolean;
  groupSlot = -1;
  over = false;
  detached = false;
  group: Group | null = null;
  readonly received: { batch: Batch; pausable: boolean }[] = [];
  /** Set once closed: the reason, or null when closed without one. */
  closedWith: GroupcastError | null | undefined = undefined;
  #pending = 0;
  #taken = 0;
  readonly #progress = new Progress();

  constructor(id: string, transport: MemberInfo['transport'] = 'tcp') {
    this.id = id;
    this.transport = transport;
    this.needsIds = transport === 'sse';
  }

  joined(group: Group): void {
    this.group = group;
  }

  left(): void {
    this.group = null;
  }

  deliver(batch: Batch, pausable: boolean): void {
    this.received.push({ batch, pausable });
    this.#pending += batch.wire.byteLength;
  }

  get pendingBytes(): number {
    return this.#pending;
  }

  /** The connection takes `bytes` of what is pending (all of it by default). */
  take(bytes = this.#pending): void {
    const n = Math.min(bytes, this.#pending);
    this.#pending -= n;
    this.#taken += n;
  }

  /** Texts of every message handed over, in order. */
  texts(): string[] {
    const out: string[] = [];
    for (const { batch } of this.received) {
      for (let i = 0; i < batch.count; i++) out.push(new TextDecoder().decode(batch.payload(i)));
    }
    return out;
  }

  progress(): boolean {
    return this.#progress.check(this.#taken);
  }

  close(reason?: GroupcastError): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason ?? null;
  }
}

/** An SSE stream as the hub sees it, keeping the event-stream text it is written. */
export class RecordingSubscriber implements Subscriber {
  readonly remote = '127.0.0.1:2';
  pendingBytes = 0;
  takenBytes = 0;
  text = '';
  closedWith: GroupcastError | null | undefined = undefined;
  takenBy?: TakenListener;

  write(chunk: Uint8Array): void {
    this.text += new TextDecoder().decode(chunk);
  }

  close(reason?: GroupcastError): void {
    if (this.closedWith === undefined) this.closedWith = reason ?? null;
  }
}
