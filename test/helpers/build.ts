/**
 * Builds what tests run as a user would (the SDK's `dist/` and the CLI in `dist/server/`)
 * once, when it is missing or older than its sources. Test files run in parallel
 * processes, so the build is serialised by a lock directory; a stamp file records the
 * time the last successful build started.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist/server/cli/main.js');
export const sdkDir = join(repoRoot, 'sdk');

const outputs = ['sdk/dist/index.js', 'sdk/dist/node.js', 'sdk/dist/index.d.ts', 'dist/server/cli/main.js'];
const inputs = [
  'server',
  'sdk/src',
  'sdk/build.mjs',
  'sdk/package.json',
  'sdk/tsconfig.json',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
];
const stampFile = join(repoRoot, 'dist/.test-build-stamp');
const lockDir = join(repoRoot, 'dist/.test-build-lock');
/** A lock older than this belongs to a build that died. */
const staleLockMs = 5 * 60_000;

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function isFresh(): boolean {
  if (!existsSync(stampFile) || outputs.some((file) => !existsSync(join(repoRoot, file)))) return false;
  const builtAt = statSync(stampFile).mtimeMs;
  return inputs.every((input) => newestMtime(join(repoRoot, input)) <= builtAt);
}

function tryLock(): boolean {
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  try {
    mkdirSync(lockDir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (Date.now() - statSync(lockDir).mtimeMs > staleLockMs) rmSync(lockDir, { recursive: true, force: true });
    return false;
  }
}

async function waitForLock(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!tryLock()) {
    if (Date.now() > deadline) throw new Error(`another build still holds ${lockDir}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs `npm run build` unless the outputs are newer than every source. */
export async function ensureBuilt({ timeoutMs = 180_000 } = {}): Promise<void> {
  if (isFresh()) return;
  await waitForLock(timeoutMs);
  try {
    if (isFresh()) return; // built by whoever held the lock
    const startedAt = new Date();
    await promisify(execFile)('npm', ['run', 'build'], { cwd: repoRoot, timeout: timeoutMs });
    writeFileSync(stampFile, '');
    utimesSync(stampFile, startedAt, startedAt);
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
