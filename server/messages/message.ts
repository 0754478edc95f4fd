/**
 * @module message
 * The domain's shapes. `Message` is the wire contract of design.md: do not change its fields.
 */

export interface Message {
  id: string;
  /** Position in the recipient's stream: gapless and strictly increasing per recipient. */
  seq: number;
  from: string;
  to: string;
  text: string;
  clientMsgId: string | null;
  sentAt: Date;
}

export interface Conversation {
  peer: string;
  lastMessage: Message;
  /** Messages from `peer` in the caller's stream above the caller's acknowledged seq. */
  unread: number;
}

/** A message to append; `from` is always the authenticated sender. */
export interface NewMessage {
  from: string;
  to: string;
  text: string;
  clientMsgId: string | null;
}
