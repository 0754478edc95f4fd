// @ts-check
/**
 * @module sqlite-writer
 * The SQLite store's writer, run in a worker thread (see sqlite-store.ts): it owns the
 * connection that writes, so a commit and its fsync block this thread, never the event
 * loop that serves sockets. It receives the writes gathered while the previous batch
 * committed, runs them in one transaction (`synchronous = FULL`: durable when the
 * transaction returns), and only then answers. Plain JavaScript with JSDoc types, so the
 * worker loads both from source (tests) and from the build.
 *
 * A write fails alone only with an error it raises before changing anything (an unknown
 * recipient); any other error rolls the whole batch back and fails every write in it.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * @typedef {{ op: 'append', from: string, to: string, text: string, clientMsgId: string | null, sentAt: number }
 *   | { op: 'ack', userId: string, upTo: number }
 *   | { op: 'createUser', userId: string, passwordHash: string | null, createdAt: number }
 *   | { op: 'probe' }} Write
 *
 * The outcome of one write: a new message's id and seq, or the row an append found
 * already stored under its clientMsgId; the new acknowledged seq; whether the user was
 * created (or the probe wrote); or the recipient was unknown.
 * @typedef {{ id: number, seq: number } | { row: import('./message-row.js').MessageRow } | number | boolean | { unknownRecipient: string }} Outcome
 *
 * @typedef {{ type: 'batch', writes: Write[] } | { type: 'close' }} Request
 * @typedef {{ ok: true, outcomes: Outcome[] } | { ok: false, message: string, code: string | null }} Reply
 */

/** @param {string} file */
function openWriter(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** @param {Database.Database} db @param {string} columns the `messages` columns a row carries */
function prepare(db, columns) {
  const insertUser = db.prepare(
    'INSERT INTO users (id, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
  );
  const findByClientMsgId = db.prepare(`SELECT ${columns} FROM messages WHERE sender = ? AND client_msg_id = ?`);
  const headSeq = db.prepare('SELECT head_seq FROM users WHERE id = ?');
  const setHeadSeq = db.prepare('UPDATE users SET head_seq = ? WHERE id = ?');
  const insertMessage = db.prepare(
    `INSERT INTO messages (recipient, seq, sender, text, client_msg_id, sent_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
  );
  // The newest message is always the one just inserted: writers (this one, or another
  // process on the same file) take turns, as every batch begins IMMEDIATE, and an
  // AUTOINCREMENT id only grows, so ids grow in commit order.
  const upsertConversation = db.prepare(
    `INSERT INTO conversations (user_id, peer, last_message_id, unread) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, peer)
     DO UPDATE SET last_message_id = excluded.last_message_id, unread = unread + excluded.unread`,
  );
  const seqs = db.prepare('SELECT head_seq, acked_seq FROM users WHERE id = ?');
  const setAcked = db.prepare('UPDATE users SET acked_seq = ? WHERE id = ?');
  // The messages the ack moves past are read now: one range of the (recipient, seq) key,
  // grouped by sender, so each message is counted down once in the stream's life.
  const countDownUnread = db.prepare(
    `UPDATE conversations SET unread = unread - moved.n
     FROM (SELECT sender, COUNT(*) AS n FROM messages WHERE recipient = ? AND seq > ? AND seq <= ? GROUP BY sender) AS moved
     WHERE conversations.user_id = ? AND conversations.peer = moved.sender`,
  );
  // A row no user id can name (they start with a letter or digit), written and removed in
  // one transaction: it needs room in the journal as the largest real write does (64 KiB,
  // the default frame limit), and leaves nothing behind.
  const probeInsert = db.prepare(
    "INSERT INTO users (id, password_hash, created_at) VALUES ('-probe', hex(zeroblob(32768)), 0)",
  );
  const probeDelete = db.prepare("DELETE FROM users WHERE id = '-probe'");

  /**
   * What a batch's appends change in `users` (head seqs) and `conversations`, written once
   * per row: before an ack reads them, and at the end of the batch. A batch of many
   * messages between a few users then writes each of those rows once, not once per message.
   */
  function appendState() {
    /** @type {Map<string, number>} */
    const heads = new Map();
    /** @type {Map<string, { userId: string, peer: string, lastId: number, unread: number }>} */
    const summaries = new Map();
    return {
      /** @param {string} userId @returns {number | null} the seq of userId's next message; null: no such user */
      nextSeq(userId) {
        let head = heads.get(userId);
        if (head === undefined) {
          const row = /** @type {{ head_seq: number } | undefined} */ (headSeq.get(userId));
          if (!row) return null;
          head = row.head_seq;
        }
        heads.set(userId, head + 1);
        return head + 1;
      },
      /** @param {string} userId @param {string} peer @param {number} messageId @param {number} unread */
      summarise(userId, peer, messageId, unread) {
        // A NUL is in no user id (protocol/user-id.ts).
        const key = `${userId}\u0000${peer}`;
        const summary = summaries.get(key);
        if (summary === undefined) summaries.set(key, { userId, peer, lastId: messageId, unread });
        else {
          summary.lastId = messageId;
          summary.unread += unread;
        }
      },
      write() {
        for (const [userId, head] of heads) setHeadSeq.run(head, userId);
        for (const { userId, peer, lastId, unread } of summaries.values()) upsertConversation.run(userId, peer, lastId, unread);
        heads.clear();
        summaries.clear();
      },
    };
  }

  /** @param {Write} w @param {ReturnType<typeof appendState>} appends @returns {Outcome} */
  function run(w, appends) {
    if (w.op === 'ack') {
      appends.write();
      const row = /** @type {{ head_seq: number, acked_seq: number } | undefined} */ (seqs.get(w.userId));
      if (!row) return 0;
      const acked = Math.max(row.acked_seq, Math.min(w.upTo, row.head_seq));
      if (acked === row.acked_seq) return acked;
      setAcked.run(acked, w.userId);
      countDownUnread.run(w.userId, row.acked_seq, acked, w.userId);
      return acked;
    }
    if (w.op === 'createUser') return insertUser.run(w.userId, w.passwordHash, w.createdAt).changes === 1;
    if (w.op === 'probe') {
      probeInsert.run();
      return probeDelete.run().changes === 1;
    }
    if (w.clientMsgId !== null) {
      const existing = /** @type {import('./message-row.js').MessageRow | undefined} */ (
        findByClientMsgId.get(w.from, w.clientMsgId)
      );
      if (existing) return { row: existing };
    }
    const seq = appends.nextSeq(w.to);
    if (seq === null) return { unknownRecipient: w.to };
    const inserted = /** @type {{ id: number } | undefined} */ (
      insertMessage.get(w.to, seq, w.from, w.text, w.clientMsgId, w.sentAt)
    );
    if (!inserted) throw new Error('INSERT … RETURNING returned no row');
    // The conversation summary: the sender's view and the recipient's, where the message
    // is unread (one row, unread, to oneself: the message is in one's own stream).
    if (w.to !== w.from) appends.summarise(w.from, w.to, inserted.id, 0);
    appends.summarise(w.to, w.from, inserted.id, 1);
    // The rest of the row is the write's own: not copied back across threads.
    return { id: inserted.id, seq };
  }

  return db.transaction(
    /** @param {Write[]} writes */ (writes) => {
      const appends = appendState();
      const outcomes = writes.map((w) => run(w, appends));
      appends.write();
      return outcomes;
    },
  );
}

const port = parentPort;
if (!port) throw new Error('sqlite-writer runs as a worker thread (see SqliteStore)');
const { file, messageColumns } = /** @type {{ file: string, messageColumns: string }} */ (workerData);
const db = openWriter(file);
const commit = prepare(db, messageColumns);

port.on('message', (/** @type {Request} */ request) => {
  if (request.type === 'close') {
    db.close();
    port.close();
    return;
  }
  /** @type {Reply} */
  let reply;
  try {
    reply = { ok: true, outcomes: commit.immediate(request.writes) };
  } catch (error) {
    const e = /** @type {{ message?: unknown, code?: unknown }} */ (error);
    reply = { ok: false, message: String(e.message ?? error), code: typeof e.code === 'string' ? e.code : null };
  }
  port.postMessage(reply);
});
