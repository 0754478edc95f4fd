import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../server/store/sqlite-store.js';
import { describeStoreContract } from './contracts/store.contract.js';
import { tempDir } from './helpers/server.js';

describeStoreContract('SqliteStore', async () => {
  const dir = tempDir('parley-store-');
  const file = join(dir, 'parley.db');
  const store = new SqliteStore(file);
  const second = new SqliteStore(file);
  return {
    store,
    second,
    async dispose() {
      await store.close();
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
