/** How much each mode measures. --quick is CI's smoke test (about two minutes). */
export type Mode = 'quick' | 'default' | 'full';

export interface Settings {
  mode: Mode;
  /** Rounds per case; the median is reported. */
  rounds: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  fanouts: number[];
  /** Extra payload sizes for TCP fan-out 1:10 and 1:100. */
  bigPayloads: number[];
  udpRates: number[];
  memoryMembers: number;
  memoryRounds: number;
  /** Measured window of the fixed-rate latency cases. */
  latencyMs: number;
  /** Unread bytes allowed per receiver, and bytes per publisher write. */
  windowBytes: number;
  burstBytes: number;
}

const BASE = { drainMs: 5000, windowBytes: 512 * 1024, burstBytes: 64 * 1024 };

export const SETTINGS: Record<Mode, Settings> = {
  quick: {
    ...BASE,
    mode: 'quick',
    rounds: 3,
    warmupMs: 100,
    measureMs: 300,
    fanouts: [1, 10, 100],
    bigPayloads: [],
    udpRates: [5_000, 10_000],
    memoryMembers: 1_000,
    memoryRounds: 1,
    latencyMs: 500,
  },
  default: {
    ...BASE,
    mode: 'default',
    rounds: 3,
    warmupMs: 300,
    measureMs: 1000,
    fanouts: [1, 10, 100],
    bigPayloads: [],
    udpRates: [5_000, 10_000, 20_000],
    memoryMembers: 10_000,
    memoryRounds: 1,
    latencyMs: 1000,
  },
  full: {
    ...BASE,
    mode: 'full',
    rounds: 5,
    warmupMs: 400,
    measureMs: 1500,
    fanouts: [1, 10, 100, 1000],
    bigPayloads: [1024, 65536],
    udpRates: [5_000, 10_000, 20_000, 40_000],
    memoryMembers: 10_000,
    memoryRounds: 3,
    latencyMs: 2000,
  },
};
