/**
 * @module postgres-migrations
 * Versioned schema for the PostgreSQL store, and the runner that applies it at start.
 * Entry i brings the schema from version i to i + 1; append new entries, never edit
 * applied ones. Tables live in the connection's `search_path` (the `public` schema
 * unless the connection string says otherwise).
 */
import type pg from 'pg';

export const postgresMigrations: readonly string[] = [
  `
  CREATE TABLE users (
    id            text PRIMARY KEY,
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    head_seq      bigint NOT NULL DEFAULT 0,
    acked_seq     bigint NOT NULL DEFAULT 0
  );

  CREATE TABLE messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient     text NOT NULL REFERENCES users(id),
    seq           bigint NOT NULL,
    sender        text NOT NULL REFERENCES users(id),
    text          text NOT NULL,
    client_msg_id text,
    sent_at       timestamptz NOT NULL,
    UNIQUE (recipient, seq)
  );

  CREATE UNIQUE INDEX messages_sender_client_msg_id
    ON messages (sender, client_msg_id) WHERE client_msg_id IS NOT NULL;
  CREATE INDEX messages_conversation ON messages (sender, recipient, id);
  `,
  `
  -- Version 2: per user and peer, the conversation's last message and the number of
  -- messages from the peer above the user's acked seq, kept by every append and ack
  -- (postgres-store.ts), so conversations() reads one row per peer, not every message.
  -- Derived from messages; built here from the messages already stored.
  CREATE TABLE conversations (
    user_id         text NOT NULL,
    peer            text NOT NULL,
    last_message_id bigint NOT NULL,
    unread          bigint NOT NULL,
    PRIMARY KEY (user_id, peer)
  );

  -- Each message is in its sender's view and its recipient's (twice in a conversation with
  -- oneself); it is unread in the recipient's view only, while above the recipient's acked seq.
  INSERT INTO conversations (user_id, peer, last_message_id, unread)
    SELECT user_id, peer, MAX(id), SUM(unread) FROM (
      SELECT sender AS user_id, recipient AS peer, id, 0 AS unread FROM messages
      UNION ALL
      SELECT m.recipient, m.sender, m.id, CASE WHEN m.seq > u.acked_seq THEN 1 ELSE 0 END
        FROM messages m JOIN users u ON u.id = m.recipient
    ) AS pairs GROUP BY user_id, peer;
  `,
];

/**
 * One key for every Parley database: advisory locks are per database, not per schema,
 * so nodes migrating different schemas of one database merely take turns (migrations
 * are short).
 */
const migrationLockKey = 0x7061726c; // "parl"

/**
 * Brings the schema up to date. Several nodes may start at once: the advisory lock lets
 * one migrate while the others wait, then find nothing left to do.
 */
export async function migratePostgres(client: pg.ClientBase): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [migrationLockKey]);
  try {
    await client.query(`
      CREATE TABLE IF NOT EXISTS parley_migrations (
        version    integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>(
      'SELECT COALESCE(MAX(version), 0)::integer AS version FROM parley_migrations',
    );
    const current = rows[0]?.version ?? 0;
    if (current > postgresMigrations.length) {
      throw new Error(
        `The database schema (version ${current}) is newer than this Parley (version ${postgresMigrations.length}): upgrade Parley`,
      );
    }
    for (let version = current; version < postgresMigrations.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(postgresMigrations[version] ?? '');
        await client.query('INSERT INTO parley_migrations (version) VALUES ($1)', [version + 1]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [migrationLockKey]);
  }
}
