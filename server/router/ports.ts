/**
 * @module ports
 * What the router needs from the domain, as plain interfaces: the SDK's bundled types
 * then carry only these shapes, never the services behind them.
 */
import type { Conversation, Message, NewMessage } from '../messages/message.js';

export interface Session {
  token: string;
  expiresAt: Date;
}

export interface AccountsPort {
  register(userId: string, password: string): Promise<Session>;
  login(userId: string, password: string): Promise<Session>;
}

export interface MessagesPort {
  send(input: NewMessage): Promise<Message>;
  stream(userId: string, afterSeq: number | null, signal: AbortSignal): AsyncIterable<Message>;
  ack(userId: string, upTo: number): Promise<number>;
  history(userId: string, peer: string, before: string | null, limit: number): Promise<Message[]>;
  conversations(userId: string): Promise<Conversation[]>;
}
