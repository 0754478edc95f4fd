import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../server/messages/errors.js';
import { join } from 'node:path';
import { SqliteStore } from '../server/store/sqlite-store.js';
import Database from 'better-sqlite3';
import { sqliteMigrations } from '../server/store/sqlite-migrations.js';
import { describeStoreContract, type Version1Data } from './contracts/store.contract.js';
import { tempDir } from './helpers/server.js';
import { createLogger } from '../server/log.js';

const log = createLogger('silent');

describeStoreContract('SqliteStore', async () => {
  const dir = tempDir('parley-store-');
  const file = join(dir, 'parley.db');
  const store = new SqliteStore(file, log);
  const second = new SqliteStore(file, log);
  const opened: SqliteStore[] = [];
  return {
    store,
    second,
    async openVersion1(data: Version1Data) {
      const old = join(dir, `v1-${opened.length}.db`);
      const db = new Database(old);
      db.exec(sqliteMigrations[0] ?? '');
      db.pragma('user_version = 1');
      const user = db.prepare('INSERT INTO users (id, created_at, head_seq, acked_seq) VALUES (?, 0, ?, ?)');
      for (const u of data.users) user.run(u.id, u.headSeq, u.ackedSeq);
      const message = db.prepare('INSERT INTO messages (recipient, seq, sender, text, sent_at) VALUES (?, ?, ?, ?, ?)');
      for (const m of data.messages) message.run(m.to, m.seq, m.from, m.text, m.sentAt);
      db.close();
      const migrated = new SqliteStore(old, log);
      opened.push(migrated);
      return migrated;
    },
    async dispose() {
      await store.close();
      await second.close();
      for (const migrated of opened) await migrated.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore writer thread', () => {
  it('commits every write accepted before close, and refuses writes after it as unavailable', async () => {
    const dir = tempDir('parley-store-');
    const file = join(dir, 'parley.db');
    try {
      const store = new SqliteStore(file, log);
      await store.ensureUser('alice');
      await store.ensureUser('bob');
      // Not awaited: close must wait for them.
      const sends = Array.from({ length: 50 }, (_, i) => store.append({ from: 'alice', to: 'bob', text: `m${i}`, clientMsgId: null }));
      // Closing twice is one close; a write once closing has begun is refused.
      const closed = Promise.all([store.close(), store.close()]);
      await expect(store.append({ from: 'alice', to: 'bob', text: 'too late', clientMsgId: null })).rejects.toBeInstanceOf(StoreUnavailableError);
      await closed;
      expect((await Promise.all(sends)).map((r) => r.message.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      await expect(store.append({ from: 'alice', to: 'bob', text: 'late', clientMsgId: null })).rejects.toBeInstanceOf(StoreUnavailableError);

      const reopened = new SqliteStore(file, log);
      expect((await reopened.readStream('bob', 0, 100)).map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
