import { describe } from 'vitest';
import { PostgresStore } from '../server/store/postgres-store.js';
import { createLogger } from '../server/log.js';
import { describeStoreContract } from './contracts/store.contract.js';
import { createTestSchema, postgresAvailable } from './helpers/postgres.js';

const log = createLogger('silent');

if (await postgresAvailable()) {
  describeStoreContract('PostgresStore', async () => {
    const schema = await createTestSchema('store');
    // Two stores opening at once also race for the migration lock.
    const [store, second] = await Promise.all([
      PostgresStore.open(schema.url, { log }),
      PostgresStore.open(schema.url, { log }),
    ]);
    return {
      store,
      second,
      async dispose() {
        await Promise.all([store.close(), second.close()]);
        await schema.drop();
      },
    };
  });
} else {
  describe.skip('PostgresStore (Store contract): PostgreSQL not reachable', () => {});
}
