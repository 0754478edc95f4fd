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
  /** Opens the stream; what refuses it (a bad cursor, the store) rejects before anything is delivered. */
  stream(userId: string, afterSeq: number | null, signal: AbortSignal): Promise<AsyncIterable<Message>>;
  ack(userId: string, upTo: number): Promise<number>;
  history(userId: string, peer: string, before: string | null, limit: number): Promise<Message[]>;
  conversations(userId: string): Promise<Conversation[]>;
}

/** A rate limit per key; see limits/token-buckets.ts. */
export interface RateLimiter {
  take(key: string): { ok: true } | { ok: false; retryAfterMs: number };
}

/** Keeps count of running requests, so shutdown can wait for them. */
export interface RequestTracker {
  track<T>(work: () => Promise<T>): Promise<T>;
}

/** What the router reports to the operator's metrics. */
export interface RouterMetrics {
  messageSent(): void;
  messageDelivered(sentAt: Date): void;
  rateLimited(procedure: string): void;
  subscriptionOpened(): void;
  subscriptionClosed(): void;
}
