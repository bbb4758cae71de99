import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../shared/errors.ts';
import { type ResolvedSidecar, resolveSidecarOptions } from '../shared/options/sidecar.ts';

/** Finds `--config <file>` / `--config=<file>` / GROUPCAST_CONFIG before the other options are resolved. */
function configPath(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i].startsWith('--config=')) return argv[i].slice('--config='.length);
  }
  return env.GROUPCAST_CONFIG;
}

/** Resolves the sidecar's options: defaults < JSON config file < environment < flags. */
export function loadSidecarOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ResolvedSidecar {
  const path = configPath(argv, env);
  let file: unknown;
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InvalidOptionError('config', path, `cannot read: ${(err as Error).message}`);
    }
    try {
      file = JSON.parse(text);
    } catch (err) {
      throw new InvalidOptionError('config', path, `not JSON: ${(err as Error).message}`);
    }
  }
  return resolveSidecarOptions(env, argv, file);
}
