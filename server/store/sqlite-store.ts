/**
 * @module sqlite-store
 * The embedded `Store` on better-sqlite3: one file in the data dir, WAL journal,
 * `synchronous = FULL` so a commit survives power loss before `append` resolves.
 *
 * Writes use group commit: the writes requested since the last commit (one event-loop
 * turn, or a few under load) run in one transaction, and all of them resolve after that single commit — one fsync for the
 * batch instead of one per message, and no write is acknowledged before it is durable.
 * A write fails alone only with an error it raises before changing anything (an unknown
 * recipient); any other error rolls the whole batch back and rejects every write in it,
 * so nothing is ever half-written. (A savepoint per write would allow finer failure, at
 * two extra statements per message.)
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AppendResult, Store, UserRecord } from './store.js';
import { messageColumns, toMessage, type MessageRow } from './message-row.js';
import type { Conversation, Message, NewMessage } from '../messages/message.js';
import { UnknownRecipientError } from '../messages/errors.js';
import { sqliteMigrations } from './sqlite-migrations.js';

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > sqliteMigrations.length) {
    throw new Error(
      `The database schema (version ${current}) is newer than this Parley (version ${sqliteMigrations.length}): upgrade Parley`,
    );
  }
  for (let version = current; version < sqliteMigrations.length; version++) {
    db.transaction(() => {
      db.exec(sqliteMigrations[version] ?? '');
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Bounds the time one batch holds the event loop. */
const maxBatchSize = 2000;
/**
 * Commits are at least this far apart. A commit's fsync blocks the event loop (~0.1-0.4
 * ms here), so under load the writes of a few turns share one commit instead of each turn
 * paying for its own; a write after a quiet spell still commits at once.
 */
const minCommitIntervalMs = 2;

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #append;
  readonly #commitBatch;
  #pending: PendingWrite[] = [];
  #flushScheduled = false;
  #lastCommitAt = 0;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);

    this.#stmts = {
      insertUser: db.prepare<[string, string | null, number]>(
        'INSERT INTO users (id, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      getUser: db.prepare<[string], { id: string; password_hash: string | null }>(
        'SELECT id, password_hash FROM users WHERE id = ?',
      ),
      findByClientMsgId: db.prepare<[string, string], MessageRow>(
        `SELECT ${messageColumns} FROM messages WHERE sender = ? AND client_msg_id = ?`,
      ),
      nextSeq: db.prepare<[string], { head_seq: number }>(
        'UPDATE users SET head_seq = head_seq + 1 WHERE id = ? RETURNING head_seq',
      ),
      insertMessage: db.prepare<
        [string, number, string, string, string | null, number],
        { id: number }
      >(
        `INSERT INTO messages (recipient, seq, sender, text, client_msg_id, sent_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
      ),
      readStream: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${messageColumns} FROM messages WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      seqs: db.prepare<[string], { head_seq: number; acked_seq: number }>(
        'SELECT head_seq, acked_seq FROM users WHERE id = ?',
      ),
      ack: db.prepare<[number, string], { acked_seq: number }>(
        `UPDATE users SET acked_seq = MAX(acked_seq, MIN(?, head_seq)) WHERE id = ? RETURNING acked_seq`,
      ),
      history: db.prepare<[string, string, string, string, number, number], MessageRow>(
        `SELECT ${messageColumns} FROM messages
         WHERE ((sender = ? AND recipient = ?) OR (sender = ? AND recipient = ?)) AND id < ?
         ORDER BY id DESC LIMIT ?`,
      ),
      peers: db.prepare<[string, string, string], { peer: string; last_id: number }>(
        `SELECT CASE WHEN sender = ? THEN recipient ELSE sender END AS peer, MAX(id) AS last_id
         FROM messages WHERE sender = ? OR recipient = ?
         GROUP BY peer ORDER BY last_id DESC`,
      ),
      messageById: db.prepare<[number], MessageRow>(
        `SELECT ${messageColumns} FROM messages WHERE id = ?`,
      ),
      unreadBySender: db.prepare<[string, number], { sender: string; unread: number }>(
        `SELECT sender, COUNT(*) AS unread FROM messages WHERE recipient = ? AND seq > ? GROUP BY sender`,
      ),
      ping: db.prepare('SELECT 1'),
    };

    this.#append = (m: NewMessage, sentAt: number): AppendResult => {
      if (m.clientMsgId !== null) {
        const existing = this.#stmts.findByClientMsgId.get(m.from, m.clientMsgId);
        if (existing) return { message: toMessage(existing), created: false };
      }
      const head = this.#stmts.nextSeq.get(m.to);
      if (!head) throw new UnknownRecipientError(m.to);
      const row = this.#stmts.insertMessage.get(m.to, head.head_seq, m.from, m.text, m.clientMsgId, sentAt);
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return {
        message: {
          id: String(row.id),
          seq: head.head_seq,
          from: m.from,
          to: m.to,
          text: m.text,
          clientMsgId: m.clientMsgId,
          sentAt: new Date(sentAt),
        },
        created: true,
      };
    };

    this.#commitBatch = db.transaction((batch: PendingWrite[]) =>
      batch.map((write): { ok: true; value: unknown } | { ok: false; error: unknown } => {
        try {
          return { ok: true, value: write.run() };
        } catch (error) {
          if (error instanceof UnknownRecipientError) return { ok: false, error };
          throw error;
        }
      }),
    );
  }

  /** Queues a write for the next group commit; resolves after it has committed. */
  #write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushScheduled) this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    this.#flushScheduled = true;
    const wait = this.#lastCommitAt + minCommitIntervalMs - performance.now();
    if (wait <= 0) setImmediate(() => this.#flush());
    else setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending.splice(0, maxBatchSize);
    if (batch.length === 0) return;
    let outcomes;
    try {
      outcomes = this.#commitBatch.immediate(batch);
      this.#lastCommitAt = performance.now();
      if (this.#pending.length > 0) this.#scheduleFlush();
    } catch (error) {
      this.#lastCommitAt = performance.now();
      if (this.#pending.length > 0) this.#scheduleFlush();
      // The commit itself failed: nothing of the batch is stored.
      for (const write of batch) write.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) => {
      const write = batch[i]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }

  createUser(userId: string, passwordHash: string | null): Promise<boolean> {
    return this.#write(() => this.#stmts.insertUser.run(userId, passwordHash, Date.now()).changes === 1);
  }

  async ensureUser(userId: string): Promise<void> {
    await this.createUser(userId, null);
  }

  async getUser(userId: string): Promise<UserRecord | null> {
    const row = this.#stmts.getUser.get(userId);
    return row ? { userId: row.id, passwordHash: row.password_hash } : null;
  }

  append(message: NewMessage): Promise<AppendResult> {
    return this.#write(() => this.#append(message, Date.now()));
  }

  async readStream(userId: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.#stmts.readStream.all(userId, afterSeq, limit).map(toMessage);
  }

  async headSeq(userId: string): Promise<number> {
    return this.#stmts.seqs.get(userId)?.head_seq ?? 0;
  }

  async ackedSeq(userId: string): Promise<number> {
    return this.#stmts.seqs.get(userId)?.acked_seq ?? 0;
  }

  ack(userId: string, upTo: number): Promise<number> {
    return this.#write(() => this.#stmts.ack.get(upTo, userId)?.acked_seq ?? 0);
  }

  async history(userId: string, peer: string, beforeId: string | null, limit: number): Promise<Message[]> {
    const before = beforeId === null ? Number.MAX_SAFE_INTEGER : Number(beforeId);
    const rows = this.#stmts.history.all(userId, peer, peer, userId, before, limit);
    return rows.map(toMessage);
  }

  async conversations(userId: string): Promise<Conversation[]> {
    const acked = this.#stmts.seqs.get(userId)?.acked_seq ?? 0;
    const unread = new Map(
      this.#stmts.unreadBySender.all(userId, acked).map((r) => [r.sender, r.unread] as const),
    );
    const result: Conversation[] = [];
    for (const { peer, last_id } of this.#stmts.peers.all(userId, userId, userId)) {
      const last = this.#stmts.messageById.get(last_id);
      if (last) result.push({ peer, lastMessage: toMessage(last), unread: unread.get(peer) ?? 0 });
    }
    return result;
  }

  async ping(): Promise<void> {
    this.#stmts.ping.get();
  }

  async close(): Promise<void> {
    // Writes already accepted are committed before the file closes.
    while (this.#pending.length > 0) this.#flush();
    this.#db.close();
  }
}
