/**
 * @module package-root
 * Finds the package's root folder from a module inside it, so files kept at the root
 * (the built demo) are found whether the server runs from `server/` (source, tests) or
 * from `dist/server/` (the build `npm start` runs).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder at or above `moduleUrl` that holds a `package.json`. */
export function packageRoot(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json in ${start} or any folder above it`);
  }
}
