/**
 * @module message-row
 * The `messages` table's row, as both SQL stores read it (drivers differ only in how
 * they hand back numbers and times), and its mapping to the domain's `Message`.
 */
import type { Message } from '../messages/message.js';

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
