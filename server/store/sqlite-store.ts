/**
 * @module sqlite-store
 * The embedded `Store` on better-sqlite3: one file in the data dir, WAL journal,
 * `synchronous = FULL` so a commit survives power loss before `append` resolves.
 *
 * Reads run here, on the event loop (WAL readers never wait for the writer). Writes go to
 * one writer connection in a worker thread (sqlite-writer.js), so commits and their
 * fsyncs never block the event loop. Group commit: while one batch commits, the writes
 * requested meanwhile gather and go as the next batch, one transaction and one fsync for
 * all of them, and each resolves only after its batch has committed.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { createDataDir, makeOwnerOnly } from '../data-dir.js';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
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
import { StoreUnavailableError, UnknownRecipientError } from '../messages/errors.js';
import { sqliteMigrations } from './sqlite-migrations.js';
import type { Outcome, Reply, Request, Write } from './sqlite-writer.js';
import type { Logger } from '../log.js';

/**
 * SQLite result codes that say the file cannot be written now (disk full, I/O error,
 * locked by another process, read-only): the writes are retryable, not bugs.
 * better-sqlite3 reports extended codes (`SQLITE_IOERR_WRITE`), hence the prefixes.
 */
const unavailableCodes = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PROTOCOL'];

function isUnavailable(code: string | null): boolean {
  return code !== null && unavailableCodes.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
}

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
  write: Write;
  resolve: (outcome: Outcome) => void;
  reject: (error: unknown) => void;
}

/** While writes fail, readiness tries a write at most this often. */
const probeIntervalMs = 1000;

/** Bounds one batch (and so the time its commit takes). */
const maxBatchSize = 2000;

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #writer: Worker;
  #pending: PendingWrite[] = [];
  /** The batch the writer is committing; null when it is idle. */
  #committing: PendingWrite[] | null = null;
  #flushScheduled = false;
  /** Why the writer stopped, once it has: every write fails with it from then on. */
  #writerFailure: Error | null = null;
  #writerExited: Promise<void>;
  /** Called once no write is queued or committing (close waits for it). */
  #onIdle: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  readonly #log: Logger;
  /**
   * Why the last batch failed, while writes fail for a reason that is not a bug (disk
   * full); null once one commits again. Readiness reports it, and it is logged once.
   */
  #writesFailing: Error | null = null;
  /** The last write probe readiness started while writes fail. */
  #probe: { at: number; done: Promise<Outcome> } | null = null;

  constructor(file: string, log: Logger) {
    this.#log = log;
    createDataDir(dirname(file));
    // SQLite gives its -wal and -shm files the database file's mode.
    closeSync(openSync(file, 'a', 0o600));
    const widened = [file, `${file}-wal`, `${file}-shm`].filter(makeOwnerOnly);
    if (widened.length > 0) log.warn({ files: widened }, 'database files were readable by others; made them 0600');
    const db = new Database(file);
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    migrate(db);

    this.#stmts = {
      getUser: db.prepare<[string], { id: string; password_hash: string | null }>(
        'SELECT id, password_hash FROM users WHERE id = ?',
      ),
      readStream: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${messageColumns} FROM messages WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      seqs: db.prepare<[string], { head_seq: number; acked_seq: number }>(
        'SELECT head_seq, acked_seq FROM users WHERE id = ?',
      ),
      history: db.prepare<[string, string, string, string, number, number], MessageRow>(
        `SELECT ${messageColumns} FROM messages
         WHERE ((sender = ? AND recipient = ?) OR (sender = ? AND recipient = ?)) AND id < ?
         ORDER BY id DESC LIMIT ?`,
      ),
      conversations: db.prepare<[string], ConversationRow>(conversationsQuery('?')),
      ping: db.prepare('SELECT 1'),
    };

    // Started after the migrations, so the writer finds the schema in place.
    this.#writer = new Worker(new URL('./sqlite-writer.js', import.meta.url), {
      workerData: { file, messageColumns },
    });
    // An idle writer does not keep the process alive; one with writes in flight does.
    this.#writer.unref();
    this.#writer.on('message', (reply: Reply) => this.#committed(reply));
    this.#writer.on('error', (error) => this.#writerStopped(error));
    this.#writerExited = new Promise((resolve) =>
      this.#writer.once('exit', (code) => {
        this.#writerStopped(new Error(`the SQLite writer thread exited (code ${code})`));
        resolve();
      }),
    );
  }

  /** Queues a write for the next batch; resolves after its batch has committed. */
  #write(write: Write): Promise<Outcome> {
    if (this.#writerFailure) return Promise.reject(new StoreUnavailableError({ cause: this.#writerFailure }));
    if (this.#closing) return Promise.reject(new StoreUnavailableError({ cause: new Error('the SQLite store is closing') }));
    return new Promise<Outcome>((resolve, reject) => {
      this.#pending.push({ write, resolve, reject });
      if (!this.#flushScheduled && this.#committing === null) {
        this.#flushScheduled = true;
        // The writes of this turn go together.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#committing !== null || this.#pending.length === 0) return;
    const batch = this.#pending.splice(0, maxBatchSize);
    this.#committing = batch;
    this.#writer.ref();
    const request: Request = { type: 'batch', writes: batch.map((p) => p.write) };
    this.#writer.postMessage(request);
  }

  #committed(reply: Reply): void {
    const batch = this.#committing ?? [];
    this.#committing = null;
    this.#writer.unref();
    // The writes that gathered during this commit go next.
    this.#flush();
    if (this.#committing === null) this.#onIdle?.();
    if (!reply.ok) {
      // Nothing of the batch is stored.
      const cause = Object.assign(new Error(reply.message), { code: reply.code });
      if (!isUnavailable(reply.code)) {
        for (const p of batch) p.reject(cause);
        return;
      }
      // One line per outage, not one per failed write.
      if (this.#writesFailing === null) {
        this.#log.error({ err: cause }, 'SQLite writes are failing; writes answer SERVICE_UNAVAILABLE until one commits again');
      }
      this.#writesFailing = cause;
      for (const p of batch) p.reject(new StoreUnavailableError({ cause }));
      return;
    }
    if (this.#writesFailing !== null) {
      this.#writesFailing = null;
      this.#log.info('SQLite writes commit again');
    }
    reply.outcomes.forEach((outcome, i) => {
      const p = batch[i]!;
      if (typeof outcome === 'object' && 'unknownRecipient' in outcome) p.reject(new UnknownRecipientError(outcome.unknownRecipient));
      else p.resolve(outcome);
    });
  }

  /** The writer is gone (a crash, or close): fail what waits on it and everything after. */
  #writerStopped(error: Error): void {
    this.#writerFailure ??= error;
    const waiting = [...(this.#committing ?? []), ...this.#pending.splice(0)];
    this.#committing = null;
    for (const p of waiting) p.reject(new StoreUnavailableError({ cause: error }));
    this.#onIdle?.();
  }

  async createUser(userId: string, passwordHash: string | null): Promise<boolean> {
    return (await this.#write({ op: 'createUser', userId, passwordHash, createdAt: Date.now() })) === true;
  }

  async ensureUser(userId: string): Promise<void> {
    await this.createUser(userId, null);
  }

  async getUser(userId: string): Promise<UserRecord | null> {
    const row = this.#stmts.getUser.get(userId);
    return row ? { userId: row.id, passwordHash: row.password_hash } : null;
  }

  async append(m: NewMessage): Promise<AppendResult> {
    const sentAt = Date.now();
    const outcome = await this.#write({ op: 'append', from: m.from, to: m.to, text: m.text, clientMsgId: m.clientMsgId, sentAt });
    if (typeof outcome !== 'object') throw new Error('the SQLite writer answered an append with no row');
    if ('row' in outcome) return { message: toMessage(outcome.row), created: false };
    if (!('seq' in outcome)) throw new Error('the SQLite writer answered an append with no row');
    const { id, seq } = outcome;
    const row = { id, seq, recipient: m.to, sender: m.from, text: m.text, client_msg_id: m.clientMsgId, sent_at: sentAt };
    return { message: toMessage(row), created: true };
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

  async ack(userId: string, upTo: number): Promise<number> {
    const outcome = await this.#write({ op: 'ack', userId, upTo });
    if (typeof outcome !== 'number') throw new Error('the SQLite writer answered an ack with no seq');
    return outcome;
  }

  async history(userId: string, peer: string, beforeId: string | null, limit: number): Promise<Message[]> {
    const before = beforeId === null ? Number.MAX_SAFE_INTEGER : Number(beforeId);
    const rows = this.#stmts.history.all(userId, peer, peer, userId, before, limit);
    return rows.map(toMessage);
  }

  async conversations(userId: string): Promise<Conversation[]> {
    return this.#stmts.conversations.all(userId).map(toConversation);
  }

  async ping(): Promise<void> {
    if (this.#writerFailure) throw new StoreUnavailableError({ cause: this.#writerFailure });
    this.#stmts.ping.get();
    // While writes fail, ready means a write commits again: try one that changes nothing.
    // /readyz is open to anyone, so callers share one probe, at most one a second.
    if (this.#writesFailing !== null) {
      const now = Date.now();
      if (this.#probe === null || now - this.#probe.at >= probeIntervalMs) {
        this.#probe = { at: now, done: this.#write({ op: 'probe' }) };
      }
      await this.#probe.done;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Writes already accepted are committed before the file closes; later ones are refused.
    if (this.#committing !== null || this.#pending.length > 0) {
      await new Promise<void>((resolve) => (this.#onIdle = resolve));
    }
    if (!this.#writerFailure) {
      // Held until the writer has closed its connection and exited.
      this.#writer.ref();
      const request: Request = { type: 'close' };
      this.#writer.postMessage(request);
    }
    await this.#writerExited;
    this.#db.close();
  }

}
