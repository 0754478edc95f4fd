/**
 * @module message-row
 * The `messages` table's row, as both SQL stores read it (drivers differ only in how
 * they hand back numbers and times), and its mapping to the domain's `Message`.
 */
import type { Conversation, Message } from '../messages/message.js';

export interface MessageRow {
  id: number | string;
  recipient: string;
  /** PostgreSQL's bigint arrives as a string. */
  seq: number | string;
  sender: string;
  text: string;
  client_msg_id: string | null;
  /** Milliseconds in SQLite, a Date from PostgreSQL's timestamptz. */
  sent_at: number | Date;
}

export const messageColumns = 'id, recipient, seq, sender, text, client_msg_id, sent_at';

/** `messageColumns` of the table named `alias` in a join. */
export function messageColumnsOf(alias: string): string {
  return messageColumns
    .split(', ')
    .map((column) => `${alias}.${column}`)
    .join(', ');
}

/**
 * `userId`'s conversations from the summary table (one row per peer), most recent first,
 * each with its last message and its unread count, both kept by append and ack: one
 * summary row and one message per peer, whatever the number of messages. Plain SQL both
 * stores run: only the placeholder differs.
 */
export function conversationsQuery(placeholder: string): string {
  return `SELECT c.peer AS peer, c.unread AS unread, ${messageColumnsOf('m')}
          FROM conversations c
          JOIN messages m ON m.id = c.last_message_id
          WHERE c.user_id = ${placeholder}
          ORDER BY c.last_message_id DESC`;
}

/** A row of `conversationsQuery`; PostgreSQL's bigint arrives as a string. */
export type ConversationRow = MessageRow & { peer: string; unread: number | string };

export function toMessage(row: MessageRow): Message {
  return {
    id: String(row.id),
    seq: Number(row.seq),
    from: row.sender,
    to: row.recipient,
    text: row.text,
    clientMsgId: row.client_msg_id,
    sentAt: row.sent_at instanceof Date ? row.sent_at : new Date(row.sent_at),
  };
}

export function toConversation(row: ConversationRow): Conversation {
  return { peer: row.peer, lastMessage: toMessage(row), unread: Number(row.unread) };
}
