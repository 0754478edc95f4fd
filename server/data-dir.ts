/**
 * @module data-dir
 * The data dir: the SQLite database and the JWT secret. Readable by the server's user only,
 * and used by one server at a time: two processes on one SQLite file would each keep their
 * own live subscriptions and never hear each other's sends. The lock is a file holding the
 * owner's pid, created exclusively; one left by a process that died is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Creates `dir` (mode 0700) unless it exists; an existing one keeps the mode its operator gave it. Returns `dir`. */
export function createDataDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export const lockFileName = 'parley.lock';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(dataDir: string, pid: number) {
    super(
      `Another Parley server (pid ${pid}) is using the data dir ${dataDir}: stop it first, or give this one a PARLEY_DATA_DIR of its own`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data dir's lock or throws `DataDirLockedError`; resolves the release function. */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, lockFileName);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) throw new DataDirLockedError(dataDir, owner);
    // Left by a process that died (a crash, SIGKILL): take it over.
    rmSync(file, { force: true });
  }
  throw new Error(`Could not lock the data dir ${dataDir}: ${lockFileName} keeps coming back`);
}
