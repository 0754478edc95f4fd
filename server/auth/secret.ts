/**
 * @module secret
 * The JWT signing secret: the configured one, or one generated on first start and kept
 * in the data dir (mode 0600) so tokens survive a restart.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createDataDir } from '../data-dir.js';
import { join } from 'node:path';

export const secretFileName = 'jwt-secret';

export function loadOrCreateSecret(dataDir: string, configured: string | undefined): Uint8Array {
  if (configured !== undefined) return new TextEncoder().encode(configured);
  const file = join(dataDir, secretFileName);
  createDataDir(dataDir);
  try {
    writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  chmodSync(file, 0o600);
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}
