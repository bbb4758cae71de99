/**
 * The edge worker under a V8 CPU profile, for `npm run bench -- --profile`: Deno has no
 * `--cpu-prof`, but its node:inspector session can record one in-process. The profile is
 * written to $EDGE_PROFILE_DIR when SIGTERM arrives, before the edge's own shutdown exits.
 */
import { Session } from 'node:inspector';

const dir = Deno.env.get('EDGE_PROFILE_DIR') ?? '.';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
Deno.addSignalListener('SIGTERM', () => {
  session.post('Profiler.stop', (err, result) => {
    if (err || !result) return;
    Deno.writeTextFileSync(
      `${dir}/edge-${Deno.pid}.cpuprofile`,
      JSON.stringify((result as { profile: unknown }).profile),
    );
  });
});
await import('../../../api/edge/deno.ts');
