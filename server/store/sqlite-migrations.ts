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
  `
  -- Version 2: per user and peer, the conversation's last message and the number of
  -- messages from the peer above the user's acked seq, kept by every append and ack
  -- (sqlite-writer.js), so conversations() reads one row per peer, not every message.
  -- Derived from messages; built here from the messages already stored.
  CREATE TABLE conversations (
    user_id         TEXT NOT NULL,
    peer            TEXT NOT NULL,
    last_message_id INTEGER NOT NULL,
    unread          INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer)
  ) STRICT, WITHOUT ROWID;

  -- Each message is in its sender's view and its recipient's (twice in a conversation with
  -- oneself); it is unread in the recipient's view only, while above the recipient's acked seq.
  INSERT INTO conversations (user_id, peer, last_message_id, unread)
    SELECT user_id, peer, MAX(id), SUM(unread) FROM (
      SELECT sender AS user_id, recipient AS peer, id, 0 AS unread FROM messages
      UNION ALL
      SELECT m.recipient, m.sender, m.id, CASE WHEN m.seq > u.acked_seq THEN 1 ELSE 0 END
        FROM messages m JOIN users u ON u.id = m.recipient
    ) GROUP BY user_id, peer;
  `,
];
