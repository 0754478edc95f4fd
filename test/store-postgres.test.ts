import { describe } from 'vitest';
import pg from 'pg';
import { postgresMigrations } from '../server/store/postgres-migrations.js';
import { PostgresStore } from '../server/store/postgres-store.js';
import { createLogger } from '../server/log.js';
import { describeStoreContract, type Version1Data } from './contracts/store.contract.js';
import { createTestSchema, postgresAvailable, type TestSchema } from './helpers/postgres.js';

/** A new schema at version 1 holding `data`, as a Parley before the conversation summary left it. */
async function version1Schema(data: Version1Data): Promise<TestSchema> {
  const schema = await createTestSchema('v1');
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    await client.query(postgresMigrations[0] ?? '');
    await client.query('CREATE TABLE parley_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    await client.query('INSERT INTO parley_migrations (version) VALUES (1)');
    for (const u of data.users) {
      await client.query('INSERT INTO users (id, head_seq, acked_seq) VALUES ($1, $2, $3)', [u.id, u.headSeq, u.ackedSeq]);
    }
    for (const m of data.messages) {
      await client.query(
        'INSERT INTO messages (recipient, seq, sender, text, sent_at) VALUES ($1, $2, $3, $4, $5)',
        [m.to, m.seq, m.from, m.text, new Date(m.sentAt)],
      );
    }
  } finally {
    await client.end();
  }
  return schema;
}

const log = createLogger('silent');

if (await postgresAvailable()) {
  describeStoreContract('PostgresStore', async () => {
    const schema = await createTestSchema('store');
    // Two stores opening at once also race for the migration lock.
    const [store, second] = await Promise.all([
      PostgresStore.open(schema.url, { log }),
      PostgresStore.open(schema.url, { log }),
    ]);
    const opened: Array<{ store: PostgresStore; schema: TestSchema }> = [];
    return {
      store,
      second,
      async openVersion1(data) {
        const old = await version1Schema(data);
        const migrated = await PostgresStore.open(old.url, { log });
        opened.push({ store: migrated, schema: old });
        return migrated;
      },
      async dispose() {
        await Promise.all([store.close(), second.close(), ...opened.map((o) => o.store.close())]);
        await Promise.all([schema.drop(), ...opened.map((o) => o.schema.drop())]);
      },
    };
  });
} else {
  describe.skip('PostgresStore (Store contract): PostgreSQL not reachable', () => {});
}
