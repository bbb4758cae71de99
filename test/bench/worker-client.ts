/** The runner's side of a load worker process. */
import { join } from 'node:path';
import type { FlowJob, FlowResult, FromWorker, ToWorker } from './load/job.ts';
import { type Proc, spawnGroup } from './procs.ts';

export interface JobHooks {
  onMark?(at: 'start' | 'end'): void;
  /** Memory scenario: called once every member is connected; the job ends when it resolves. */
  onHeld?(connections: number): Promise<void>;
}

export class LoadWorker {
  readonly proc: Proc;
  #ready: Promise<void>;
  #handler: ((m: FromWorker) => void) | null = null;

  constructor() {
    this.proc = spawnGroup(
      'load worker',
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'load', 'worker.ts')],
      {
        ipc: true,
      },
    );
    this.#ready = new Promise((resolve, reject) => {
      this.#handler = (m) => m.type === 'ready' && resolve();
      this.proc.exited.then((code) =>
        reject(new Error(`load worker exited (${code}): ${this.proc.stderr().slice(-2000)}`)),
      );
    });
    this.proc.child.on('message', (m: FromWorker) => this.#handler?.(m));
  }

  async run(job: FlowJob, hooks: JobHooks = {}): Promise<FlowResult> {
    await this.#ready;
    return new Promise<FlowResult>((resolve, reject) => {
      const died = () => reject(new Error(`load worker died: ${this.proc.stderr().slice(-2000)}`));
      this.proc.exited.then(died);
      this.#handler = (m) => {
        if (m.type === 'mark') hooks.onMark?.(m.at);
        else if (m.type === 'held') {
          const done = hooks.onHeld ? hooks.onHeld(m.connections) : Promise.resolve();
          done.finally(() => this.#send({ type: 'release' }));
        } else if (m.type === 'result') {
          this.#handler = null;
          resolve(m.result);
        }
      };
      this.#send({ type: 'job', job });
    });
  }

  #send(m: ToWorker): void {
    this.proc.child.send(m);
  }

  stop(): Promise<void> {
    return this.proc.stop(1000);
  }
}
