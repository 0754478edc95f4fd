/**
 * The data dir: one server at a time (a second one on the same SQLite file would never
 * hear the first one's sends), and readable by the server's user only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServer, defaultConfig } from '../../server/index.js';
import { createLogger } from '../../server/log.js';
import { lockFileName } from '../../server/data-dir.js';
import { tempDir, testSecret } from '../helpers/server.js';

const log = createLogger('silent');
const configFor = (dataDir: string, jwtSecret?: string) => defaultConfig({ port: 0, dataDir, jwtSecret });

describe('the data dir', () => {
  it('refuses to start a second server on a data dir in use, naming it, and starts once the first has stopped', async () => {
    const dataDir = tempDir();
    try {
      const first = await createServer(configFor(dataDir, testSecret), { log });
      await expect(createServer(configFor(dataDir, testSecret), { log })).rejects.toThrow(
        `Another Parley server (pid ${process.pid}) is using the data dir ${dataDir}`,
      );
      // The refused start left the first server's lock in place.
      expect(existsSync(join(dataDir, lockFileName))).toBe(true);
      await first.close();
      expect(existsSync(join(dataDir, lockFileName))).toBe(false);
      const again = await createServer(configFor(dataDir, testSecret), { log });
      await again.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('takes over the lock of a server that died without releasing it', async () => {
    const dataDir = tempDir();
    try {
      // The pid of a process that has exited.
      const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
      writeFileSync(join(dataDir, lockFileName), dead.stdout.trim());
      const server = await createServer(configFor(dataDir, testSecret), { log });
      await server.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('is created 0700, and the database, its journal files, the lock and the secret 0600', async () => {
    const parent = tempDir();
    const dataDir = join(parent, 'data');
    try {
      const server = await createServer(configFor(dataDir), { log });
      const res = await fetch(`${server.url}/trpc/auth.register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ json: { userId: 'alice', password: 'correct horse' } }),
      });
      expect(res.status).toBe(200);
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const files = readdirSync(dataDir);
      expect(files).toEqual(expect.arrayContaining(['parley.db', 'parley.db-wal', 'parley.db-shm', 'jwt-secret', lockFileName]));
      for (const file of files) expect({ file, mode: statSync(join(dataDir, file)).mode & 0o777 }).toEqual({ file, mode: 0o600 });
      await server.close();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
