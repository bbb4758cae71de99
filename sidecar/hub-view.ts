import type { Backplane } from './backplane/types.ts';
import type { FlowControl } from './flow.ts';
import type { Group } from './group.ts';
import type { MemoryBudget } from './memory-budget.ts';
import type { Stats } from './stats.ts';

/**
 * What the hub shows to those who only read it (metrics, the health counters): its counters,
 * groups, budget and flow control. The LocalHub implements it; readers import this, not the hub,
 * so nothing they import leads back to them.
 */
export interface HubView {
  readonly stats: Stats;
  readonly connections: { readonly tcp: number; readonly sse: number };
  readonly groupCount: number;
  readonly budget: MemoryBudget;
  readonly flow: FlowControl;
  readonly cluster: Backplane | null;
  readonly options: {
    readonly maxConnections: number;
    readonly maxGroups: number;
    readonly maxMembersPerGroup: number;
  };
  allGroups(): IterableIterator<Group>;
}
