/**
 * `PARLEY_TEST_BACKEND=scale-out` runs the servers of the core tests on PostgreSQL and
 * Redis instead of SQLite and the in-process bus, so the same delivery, resume and
 * idempotency tests prove both deployments (`.ci/run` does this run). Each data dir gets
 * a schema of its own, derived from its path, so a test that restarts a server on the
 * same data dir finds its messages again.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../../server/index.js';
import { createTestSchemaNamed, testDatabaseUrl, withSchema } from './postgres.js';
import { testRedisUrl } from './redis.js';

export interface TestBackend {
  config: Partial<Config>;
  /** Removes what `config` points at (the schema); call when the data dir goes. */
  drop(): Promise<void>;
}

export async function testBackend(dataDir: string): Promise<TestBackend> {
  if (process.env['PARLEY_TEST_BACKEND'] !== 'scale-out') return { config: {}, drop: async () => {} };
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const schema = await createTestSchemaNamed(`parley_test_dir_${key}`);
  return {
    config: {
      databaseUrl: withSchema(testDatabaseUrl, schema.name),
      redisUrl: testRedisUrl,
      // One prefix per data dir as well: a restarted server joins its own channels only.
      redisPrefix: `parley-test:dir:${key}:`,
    },
    drop: () => schema.drop(),
  };
}
