/**
 * The data dir: one server at a time (a second one on the same SQLite file would never
 * hear the first one's sends), and readable by the server's user only.
 */
import { chmodSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServer, defaultConfig } from '../../server/index.js';
import { createLogger } from '../../server/log.js';
import { DataDirLockedError, lockFileName } from '../../server/data-dir.js';
import { bundleNode, startNodeProcess } from '../helpers/node-process.js';
import { tempDir, testSecret } from '../helpers/server.js';

const log = createLogger('silent');
const configFor = (dataDir: string, jwtSecret?: string) => defaultConfig({ port: 0, dataDir, jwtSecret });

describe('the data dir', () => {
  it('refuses to start a second server on a data dir in use, naming it, and starts once the first has stopped', async () => {
    const dataDir = tempDir();
    try {
      const first = await createServer(configFor(dataDir, testSecret), { log });
      await expect(createServer(configFor(dataDir, testSecret), { log })).rejects.toThrow(
        `Another Parley server is using the data dir ${dataDir}`,
      );
      await first.close();
      const again = await createServer(configFor(dataDir, testSecret), { log });
      await again.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('is refused while a server process holds it, and free the moment that process is killed', async () => {
    const dataDir = tempDir();
    const bundle = await bundleNode();
    try {
      const node = await startNodeProcess(bundle, { PORT: '0', PARLEY_DATA_DIR: dataDir, PARLEY_JWT_SECRET: testSecret, PARLEY_LOG_LEVEL: 'warn' });
      await expect(createServer(configFor(dataDir, testSecret), { log })).rejects.toBeInstanceOf(DataDirLockedError);
      // SIGKILL: nothing of its own releases the lock, so a lock that outlived its process
      // (a pid file, in a container where every start gets the same pid) would block here.
      node.child.kill('SIGKILL');
      await node.stop();
      expect(existsSync(join(dataDir, lockFileName))).toBe(true);
      const server = await createServer(configFor(dataDir, testSecret), { log });
      await server.close();
    } finally {
      bundle.remove();
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

  it('makes the database files of an older install, readable by others, 0600 at start', async () => {
    const dataDir = tempDir();
    try {
      for (const file of ['parley.db', 'parley.db-wal', 'parley.db-shm', 'jwt-secret']) {
        writeFileSync(join(dataDir, file), file === 'jwt-secret' ? 'an older install keeps a secret here, long enough' : '');
        chmodSync(join(dataDir, file), 0o644);
      }
      // An empty file is a valid empty SQLite database; empty -wal and -shm files are recreated.
      const server = await createServer(configFor(dataDir), { log });
      for (const file of ['parley.db', 'parley.db-wal', 'parley.db-shm', 'jwt-secret']) {
        expect({ file, mode: statSync(join(dataDir, file)).mode & 0o777 }).toEqual({ file, mode: 0o600 });
      }
      await server.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
