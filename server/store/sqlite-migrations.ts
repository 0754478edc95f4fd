/**
 * @module sqlite-migrations
 * Versioned schema for the SQLite store. Entry i brings the schema from version i to
 * i + 1 (`PRAGMA user_version`); append new entries, never edit applied ones.
 */
export const sqliteMigrations: readonly string[] = [
  `
  CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    head_seq      INTEGER NOT NULL DEFAULT 0,
    acked_seq     INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient     TEXT NOT NULL REFERENCES users(id),
    seq           INTEGER NOT NULL,
    sender        TEXT NOT NULL REFERENCES users(id),
    text          TEXT NOT NULL,
    client_msg_id TEXT,
    sent_at       INTEGER NOT NULL,
    UNIQUE (recipient, seq)
  ) STRICT;

  CREATE UNIQUE INDEX messages_sender_client_msg_id
    ON messages (sender, client_msg_id) WHERE client_msg_id IS NOT NULL;
  CREATE INDEX messages_conversation ON messages (sender, recipient, id);
  `,
];
