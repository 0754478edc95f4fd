/**
 * @module postgres-store
 * The shared `Store` on PostgreSQL, for several nodes behind one address. Each stream's
 * next seq is taken under the recipient's row lock inside the insert transaction, so
 * seqs are gapless and in commit order whichever node appends. Every wait is bounded:
 * when the database is down or stuck, calls fail fast with `StoreUnavailableError`.
 */
import pg from 'pg';
import type { AppendResult, Store, UserRecord } from './store.js';
import {
  conversationsQuery,
  messageColumns,
  toConversation,
  toMessage,
  type ConversationRow,
  type MessageRow,
} from './message-row.js';
import type { Conversation, Message, NewMessage } from '../messages/message.js';
import { UnknownRecipientError } from '../messages/errors.js';
import type { Logger } from '../log.js';
import { migratePostgres } from './postgres-migrations.js';
import { toStoreError } from './postgres-errors.js';

export interface PostgresStoreOptions {
  log: Logger;
  /** Longest wait for a connection, new or from the pool (default 3 s). */
  connectTimeoutMs?: number;
  /** Longest a statement may run on the server; replies are awaited 1 s more (default 5 s). */
  statementTimeoutMs?: number;
  /** Connections per node (default 10). */
  poolSize?: number;
}

/** Thrown inside the append transaction to roll back its seq bump; never leaves this module. */
class ClientMsgIdTaken extends Error {}

export class PostgresStore implements Store {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects, applies pending migrations, and returns the store. */
  static async open(connectionString: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    const config: pg.PoolConfig = {
      connectionString,
      application_name: 'parley',
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
      // The server cancels a slow statement; the client gives up a little later in case
      // the server (or the network to it) is gone and cannot even cancel.
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 1000,
      idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      keepAlive: true,
    };
    // Migrations get their own session without a statement timeout: waiting for another
    // node's migration, or a long one, must not fail the start.
    const migrator = new pg.Client({ ...config, statement_timeout: 0, query_timeout: 0 });
    // A connection that breaks between two statements is reported here; the next one fails.
    migrator.on('error', (err) => options.log.warn({ err }, 'PostgreSQL connection failed while migrating'));
    await migrator.connect();
    try {
      await migratePostgres(migrator);
    } finally {
      await migrator.end();
    }
    const pool = new pg.Pool(config);
    // A connection that breaks (a database restart or failover, a cut network) emits
    // 'error' on its client, and an unheard 'error' event crashes the process. The pool
    // listens only while a client is idle, and pool.query only during its query, so a
    // client handed out can emit one unheard (in a transaction between two statements,
    // or before its new holder has run). Every client is heard from birth: the pool then
    // discards it (it is no longer queryable), and the call on it fails as unavailable.
    pool.on('connect', (client) => {
      client.on('error', (err) => options.log.warn({ err }, 'PostgreSQL connection failed'));
    });
    // The pool re-emits an idle client's error after discarding it: already logged.
    pool.on('error', () => {});
    return new PostgresStore(pool);
  }

  async createUser(userId: string, passwordHash: string | null): Promise<boolean> {
    const result = await this.#query(
      'INSERT INTO users (id, password_hash) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
      [userId, passwordHash],
    );
    return result.rowCount === 1;
  }

  async ensureUser(userId: string): Promise<void> {
    await this.createUser(userId, null);
  }

  async getUser(userId: string): Promise<UserRecord | null> {
    const { rows } = await this.#query<{ id: string; password_hash: string | null }>(
      'SELECT id, password_hash FROM users WHERE id = $1',
      [userId],
    );
    const row = rows[0];
    return row ? { userId: row.id, passwordHash: row.password_hash } : null;
  }

  async append(m: NewMessage): Promise<AppendResult> {
    // A retried send usually finds its original here without taking the stream's lock.
    const existing = await this.#findByClientMsgId(m);
    if (existing) return { message: existing, created: false };
    try {
      const message = await this.#transaction(async (client) => {
        const head = await client.query<{ head_seq: string }>(
          'UPDATE users SET head_seq = head_seq + 1 WHERE id = $1 RETURNING head_seq',
          [m.to],
        );
        const seq = head.rows[0]?.head_seq;
        if (seq === undefined) throw new UnknownRecipientError(m.to);
        // One statement stores the message and its conversation summary: the sender's
        // view and the recipient's, where the message is unread (one row, unread, to
        // oneself). The two rows are locked in (user_id, peer) order, so A→B and B→A
        // appending at once cannot deadlock, and GREATEST keeps the newest message whichever
        // commits last. The recipient's unread count changes only under the recipient's
        // users row lock, taken above, as in ack: its changes take turns.
        const inserted = await client.query<MessageRow>(
          `WITH inserted AS (
             INSERT INTO messages (recipient, seq, sender, text, client_msg_id, sent_at)
             VALUES ($1, $2, $3, $4, $5, clock_timestamp())
             ON CONFLICT (sender, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
             RETURNING ${messageColumns}
           ), summary AS (
             INSERT INTO conversations (user_id, peer, last_message_id, unread)
             SELECT views.user_id, views.peer, inserted.id, views.unread
             FROM inserted,
               (VALUES ($3::text, $1::text, 0), ($1::text, $3::text, 1)) AS views (user_id, peer, unread)
             WHERE views.unread = 1 OR $3::text <> $1::text
             ORDER BY views.user_id, views.peer
             ON CONFLICT (user_id, peer)
             DO UPDATE SET last_message_id = GREATEST(conversations.last_message_id, excluded.last_message_id),
                           unread = conversations.unread + excluded.unread
           )
           SELECT * FROM inserted`,
          [m.to, seq, m.from, m.text, m.clientMsgId],
        );
        const row = inserted.rows[0];
        if (!row) throw new ClientMsgIdTaken();
        return toMessage(row);
      });
      return { message, created: true };
    } catch (error) {
      if (!(error instanceof ClientMsgIdTaken)) throw error;
    }
    // Another node stored the same (from, clientMsgId) between our first look and our
    // insert. ON CONFLICT waited for that insert to commit, so the original is visible now.
    const original = await this.#findByClientMsgId(m);
    if (!original) throw new Error('clientMsgId conflict reported, but no original message found');
    return { message: original, created: false };
  }

  async readStream(userId: string, afterSeq: number, limit: number): Promise<Message[]> {
    const { rows } = await this.#query<MessageRow>(
      `SELECT ${messageColumns} FROM messages WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [userId, afterSeq, limit],
    );
    return rows.map(toMessage);
  }

  async headSeq(userId: string): Promise<number> {
    return (await this.#seqs(userId)).head;
  }

  async ackedSeq(userId: string): Promise<number> {
    return (await this.#seqs(userId)).acked;
  }

  async ack(userId: string, upTo: number): Promise<number> {
    return this.#transaction(async (client) => {
      // The user's row first, as an append to this user takes it: the unread counts below
      // change only under this lock, so acks and appends take turns on them. NO KEY UPDATE,
      // the lock an append's UPDATE takes: FOR UPDATE would also block appends' foreign-key
      // checks on this row (as sender), which deadlocks against them.
      const { rows } = await client.query<{ head_seq: string; acked_seq: string }>(
        'SELECT head_seq, acked_seq FROM users WHERE id = $1 FOR NO KEY UPDATE',
        [userId],
      );
      const row = rows[0];
      if (!row) return 0;
      const old = Number(row.acked_seq);
      const acked = Math.max(old, Math.min(upTo, Number(row.head_seq)));
      if (acked === old) return acked;
      await client.query('UPDATE users SET acked_seq = $2 WHERE id = $1', [userId, acked]);
      // The messages the ack moves past: one range of the (recipient, seq) key, grouped by
      // sender, so each message is counted down once in the stream's life. The summary rows
      // are locked in (user_id, peer) order, as appends lock theirs.
      await client.query(
        `WITH moved AS (
           SELECT sender, COUNT(*) AS n FROM messages
           WHERE recipient = $1 AND seq > $2 AND seq <= $3 GROUP BY sender
         ), locked AS (
           SELECT c.peer, moved.n FROM conversations c JOIN moved ON moved.sender = c.peer
           WHERE c.user_id = $1 ORDER BY c.peer FOR NO KEY UPDATE OF c
         )
         UPDATE conversations SET unread = conversations.unread - locked.n
         FROM locked WHERE conversations.user_id = $1 AND conversations.peer = locked.peer`,
        [userId, old, acked],
      );
      return acked;
    });
  }

  async history(userId: string, peer: string, beforeId: string | null, limit: number): Promise<Message[]> {
    const { rows } = await this.#query<MessageRow>(
      `SELECT ${messageColumns} FROM messages
       WHERE ((sender = $1 AND recipient = $2) OR (sender = $2 AND recipient = $1))
         AND ($3::bigint IS NULL OR id < $3::bigint)
       ORDER BY id DESC LIMIT $4`,
      [userId, peer, beforeId, limit],
    );
    return rows.map(toMessage);
  }

  async conversations(userId: string): Promise<Conversation[]> {
    const { rows } = await this.#query<ConversationRow>(conversationsQuery('$1'), [userId]);
    return rows.map(toConversation);
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #seqs(userId: string): Promise<{ head: number; acked: number }> {
    const { rows } = await this.#query<{ head_seq: string; acked_seq: string }>(
      'SELECT head_seq, acked_seq FROM users WHERE id = $1',
      [userId],
    );
    return { head: Number(rows[0]?.head_seq ?? 0), acked: Number(rows[0]?.acked_seq ?? 0) };
  }

  async #findByClientMsgId(m: NewMessage): Promise<Message | null> {
    if (m.clientMsgId === null) return null;
    const { rows } = await this.#query<MessageRow>(
      `SELECT ${messageColumns} FROM messages WHERE sender = $1 AND client_msg_id = $2`,
      [m.from, m.clientMsgId],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      const mapped = toStoreError(error);
      if (mapped !== error) {
        // The connection itself failed: discard it (the server rolls back on its own)
        // rather than wait on it again for a ROLLBACK.
        client.release(error as Error);
        throw mapped;
      }
      const rolledBack = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      client.release(rolledBack ? undefined : (error as Error));
      throw error;
    }
  }
}
