import type { GroupcastError } from '../shared/errors.ts';
import type { MemberInfo } from '../shared/hub.ts';
import type { Batch } from '../shared/message.ts';

/** A member of a group as the sidecar's fan-out sees it: one per TCP socket, UDP address or SSE stream. */
export interface Member {
  readonly id: string;
  readonly transport: MemberInfo['transport'];
  readonly remote: string;
  readonly joinedAt: number;
  /** Position in its group's member list, kept by the group for O(1) removal. */
  slot: number;
  /** Hands a batch over for sending. Never throws; a member that cannot keep up cuts itself. */
  deliver(batch: Batch): void;
  readonly pendingBytes: number;
  /** Disconnects the member (idempotent); the group drops it when its transport reports the end. */
  close(reason?: GroupcastError): void;
}

export function memberInfo(m: Member, node: string): MemberInfo {
  return {
    id: m.id,
    transport: m.transport,
    remote: m.remote,
    joinedAt: new Date(m.joinedAt).toISOString(),
    pendingBytes: m.pendingBytes,
    node,
  };
}
