/**
 * Builds what tests run as a user would (the SDK's `dist/` and the CLI in `dist/server/`)
 * once, when it is missing or older than its sources. Test files run in parallel
 * processes, so the build is serialised by a lock directory; a stamp file records the
 * time the last successful build started, and a failure file the output of a failed
 * one (so the other test files report it instead of building the same sources again).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
const failureFile = join(repoRoot, 'dist/.test-build-failure');
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

function newestInput(): number {
  return Math.max(...inputs.map((input) => newestMtime(join(repoRoot, input))));
}

/** True when `marker` exists and no input has changed since the build it records started. */
function upToDate(marker: string): boolean {
  return existsSync(marker) && newestInput() <= statSync(marker).mtimeMs;
}

function isFresh(): boolean {
  return outputs.every((file) => existsSync(join(repoRoot, file))) && upToDate(stampFile);
}

/** The same sources failed to build already: report that instead of building again. */
function throwIfFailedBefore(): void {
  if (upToDate(failureFile)) throw new Error(readFileSync(failureFile, 'utf8'));
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
  throwIfFailedBefore();
  await waitForLock(timeoutMs);
  try {
    if (isFresh()) return; // built by whoever held the lock
    throwIfFailedBefore();
    const startedAt = new Date();
    try {
      await promisify(execFile)('npm', ['run', 'build'], { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 << 20 });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      writeFileSync(failureFile, `npm run build failed:\n${stdout}${stderr}`.slice(-8000));
      utimesSync(failureFile, startedAt, startedAt);
      throw new Error(readFileSync(failureFile, 'utf8'));
    }
    writeFileSync(stampFile, '');
    utimesSync(stampFile, startedAt, startedAt);
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
