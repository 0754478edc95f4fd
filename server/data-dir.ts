/**
 * @module data-dir
 * The data dir: the SQLite database and the JWT secret. Readable by the server's user only,
 * and used by one server at a time: two processes on one SQLite file would each keep their
 * own live subscriptions and never hear each other's sends.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** Creates `dir` (mode 0700) unless it exists; an existing one keeps the mode its operator gave it. Returns `dir`. */
export function createDataDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Makes `file` readable by its owner only, if it exists and is not already: files of an
 * install from before the data dir was kept private. Resolves whether it changed it.
 */
export function makeOwnerOnly(file: string): boolean {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if ((mode & 0o077) === 0) return false;
  chmodSync(file, 0o600);
  return true;
}

export const lockFileName = 'parley.lock';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(dataDir: string) {
    super(
      `Another Parley server is using the data dir ${dataDir} (it holds ${lockFileName} there): stop it first, or give this one a PARLEY_DATA_DIR of its own`,
    );
  }
}

/**
 * Takes the data dir's lock or throws `DataDirLockedError`; returns the release function.
 * The lock is an exclusive SQLite transaction on `parley.lock`, held until released: the
 * operating system drops it when the process dies however it dies, so a crash never
 * leaves a lock behind (a pid written in a file would, in a container that gives every
 * start the same pid), and a second server in the same process is refused too. The
 * file stays: deleting a lock file lets two processes lock two different files.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, lockFileName);
  closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file, { timeout: 0 });
  try {
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') throw new DataDirLockedError(dataDir);
    throw error;
  }
  return () => {
    db.exec('ROLLBACK');
    db.close();
  };
}
