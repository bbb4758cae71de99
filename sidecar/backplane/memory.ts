import type { GroupDetail, GroupSummary, HistoryPage, StartPoint } from '../../shared/hub.ts';
import type { Batch } from '../../shared/message.ts';
import type { Group, SseMember } from '../group.ts';
import type { Member } from '../member.ts';
import type { Backplane, BackplaneHealth } from './types.ts';

const HEALTH: BackplaneHealth = { degraded: false, detail: { kind: 'memory' } };

/** One sidecar, everything in process: each call is the group's own. */
export class MemoryBackplane implements Backplane {
  readonly kind = 'memory' as const;

  async start(): Promise<void> {}

  publish(group: Group, batch: Batch, origin: Member | null): number {
    return group.publish(batch, origin);
  }

  admit(): void {}

  numbered(): undefined {
    return undefined;
  }

  replay(group: Group, member: SseMember, start: StartPoint): undefined {
    group.replay(member, start);
    return undefined;
  }

  async page(
    _name: string,
    start: StartPoint,
    limit: number,
    local: Group | undefined,
  ): Promise<HistoryPage | null> {
    return local?.page(start, limit) ?? null;
  }

  joined(): void {}

  left(): void {}

  async groups(local: GroupSummary[]): Promise<GroupSummary[]> {
    return local;
  }

  async group(_name: string, local: GroupDetail | null): Promise<GroupDetail | null> {
    return local;
  }

  health(): BackplaneHealth {
    return HEALTH;
  }

  registerMetrics(): void {}

  async close(): Promise<void> {}
}
