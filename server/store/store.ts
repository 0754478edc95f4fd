/**
 * @module store
 * The durable truth: users, their credentials and every user's message stream.
 *
 * Contract for every implementation:
 * - `append` assigns the recipient's next seq inside the transaction that stores the
 *   message, so each stream's seqs are gapless and in commit order even when several
 *   writers (or nodes) append to one stream at once. It resolves only once the message
 *   is durably committed.
 * - `(from, clientMsgId)` is unique: a second append with the same pair stores nothing
 *   and resolves with the original message and `created: false`.
 * - A failure rejects; nothing is ever half-written.
 */
import type { Conversation, Message, NewMessage } from '../messages/message.js';

export interface UserRecord {
  userId: string;
  /** Null for users known only through a valid token (no built-in account). */
  passwordHash: string | null;
}

export interface AppendResult {
  message: Message;
  /** False when `(from, clientMsgId)` already existed and `message` is the original. */
  created: boolean;
}

export interface Store {
  /** Creates an account; resolves false if the user id is already known. */
  createUser(userId: string, passwordHash: string | null): Promise<boolean>;
  /** Marks a user as known (no-op if already known). */
  ensureUser(userId: string): Promise<void>;
  getUser(userId: string): Promise<UserRecord | null>;

  append(message: NewMessage): Promise<AppendResult>;
  /** Messages of `userId`'s stream with seq > `afterSeq`, ascending, at most `limit`. */
  readStream(userId: string, afterSeq: number, limit: number): Promise<Message[]>;
  /** The highest seq in the stream (0 when empty). */
  headSeq(userId: string): Promise<number>;

  ackedSeq(userId: string): Promise<number>;
  /** Raises the acknowledged seq to `min(upTo, head)`, never lowers it; resolves the new value. */
  ack(userId: string, upTo: number): Promise<number>;

  /** Messages between `userId` and `peer` in both directions, newest first, older than `beforeId`. */
  history(userId: string, peer: string, beforeId: string | null, limit: number): Promise<Message[]>;
  /**
   * Every peer of `userId`, most recent conversation first, with the number of messages from
   * that peer above the acknowledged seq. Read from the per-(user, peer) summary that
   * `append` and `ack` keep in their transactions: the cost grows with peers, not messages.
   */
  conversations(userId: string): Promise<Conversation[]>;

  /** Rejects when the store cannot serve requests (used by readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
