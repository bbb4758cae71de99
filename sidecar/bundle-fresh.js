// Whether the bundle sidecar/bundle.js built may run: plain JavaScript, as bin.js loads it before
// anything can load TypeScript.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The bundle's entry in `dist` when it is whole and newer than every file it was built from
 * (paths in its inputs.json, relative to `root`); null otherwise: an edited source, a new
 * install or a half-written bundle must never run in place of the sources.
 * @param {string} dist
 * @param {string} root
 * @returns {string | null}
 */
export function freshBundle(dist, root) {
  try {
    const stamp = join(dist, 'inputs.json');
    const inputs = JSON.parse(readFileSync(stamp, 'utf8'));
    const built = statSync(stamp).mtimeMs;
    statSync(join(dist, 'cli.js'));
    // Concatenated, not path.join: ~100 joins make V8 optimize path's normalizeString with
    // TurboFan, whose code pages (~4 MB of RSS) an idle sidecar would otherwise never touch.
    for (const input of inputs) {
      const at = statSync(`${root}/${input}`, { throwIfNoEntry: false });
      if (at && at.mtimeMs > built) return null;
    }
    return join(dist, 'cli.js');
  } catch {
    return null;
  }
}
