/**
 * A load worker: a separate process from every server, taking FlowJobs from the runner over IPC
 * one at a time. It exits when the runner goes away.
 */
import { runFlow } from './flow.ts';
import type { FlowJob, FromWorker, ToWorker } from './job.ts';

/** Longest a job may take beyond its own timings before it is abandoned. */
const JOB_SLACK_MS = 180_000;

const send = (m: FromWorker) => process.send?.(m);
let release: (() => void) | null = null;
let busy = false;

process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToWorker) => {
  if (m.type === 'release') {
    release?.();
    return;
  }
  if (m.type === 'job' && !busy) void run(m.job);
});

async function run(job: FlowJob): Promise<void> {
  busy = true;
  const guard = setTimeout(
    () => {
      process.stderr.write('load worker: job overran its time, exiting\n');
      process.exit(3);
    },
    job.warmupMs + job.measureMs + job.drainMs + JOB_SLACK_MS,
  );
  const result = await runFlow(job, {
    mark: (at) => send({ type: 'mark', at }),
    held: (connections) =>
      new Promise<void>((resolve) => {
        release = resolve;
        send({ type: 'held', connections });
      }),
  });
  release = null;
  clearTimeout(guard);
  busy = false;
  send({ type: 'result', result });
}

send({ type: 'ready' });
