/** Builders for the jobs the scenarios run. */
import type { Context } from './context.ts';
import type { FlowJob, Pace } from './load/job.ts';
import type { Running } from './targets/types.ts';

export interface Shape {
  groups: number;
  publishers: number;
  receivers: number;
  payload?: number;
  pace?: Pace;
  fullCheck?: boolean;
  measureMs?: number;
}

/** Window per receiver: the settings' value, less for big groups so the total stays sane. */
export function windowPace(ctx: Context, receivers: number): Pace {
  const { windowBytes, burstBytes } = ctx.settings;
  const per = Math.max(64 * 1024, Math.min(windowBytes, Math.floor((48 << 20) / receivers)));
  return { kind: 'window', windowBytes: per, burstBytes: Math.min(burstBytes, per / 2) };
}

function base(ctx: Context, s: Shape): Omit<FlowJob, 'pub' | 'sub'> {
  const total = s.groups * (s.receivers + s.publishers);
  return {
    groups: s.groups,
    publishers: s.publishers,
    receivers: s.receivers,
    combined: true,
    payload: s.payload ?? 100,
    pace: s.pace ?? windowPace(ctx, total),
    warmupMs: ctx.settings.warmupMs,
    measureMs: s.measureMs ?? ctx.settings.measureMs,
    drainMs: ctx.settings.drainMs,
    fullCheck: s.fullCheck ?? false,
  };
}

/** TCP publishers and TCP receivers in the target's own protocol. */
export function tcpJob(ctx: Context, t: Running, s: Shape): FlowJob | string {
  if (!t.tcp) return 'no TCP pub/sub';
  const { protocol, addr } = t.tcp;
  return {
    ...base(ctx, s),
    pub: { kind: 'stream', protocol, addr },
    sub: { kind: 'stream', protocol, addrs: [addr] },
  };
}

export const NO_API = 'skipped: API not available';

/** HTTP POST publishers (16 keep-alive posters unless told) and SSE receivers. */
export function postSseJob(ctx: Context, t: Running, s: Shape, batch = 1): FlowJob | string {
  if (!t.http) return t.name === 'groupcast' ? NO_API : 'no HTTP API';
  if (batch > 1 && t.http.flavor === 'nchan') return 'no batch publish';
  const { flavor, addr } = t.http;
  return {
    ...base(ctx, s),
    fullCheck: true,
    pub: { kind: 'http', flavor, addr, batch },
    sub: { kind: 'sse', flavor, addrs: [addr] },
  };
}
