/**
 * @module bus
 * Live events between the node that stored a message and the nodes holding the
 * recipient's subscriptions.
 *
 * Contract: the bus is a doorbell, not the truth. It may drop or repeat events (a
 * subscriber must check seqs against what it delivered and re-read the store on a gap),
 * and when it may have lost events it says so with a `resync` event to every listener,
 * which then re-reads the store from its last delivered seq.
 */
import type { Message } from '../messages/message.js';

export type BusEvent = { kind: 'message'; message: Message } | { kind: 'resync' };

export type BusListener = (event: BusEvent) => void;

export interface Bus {
  /** Announces a committed message to the live subscriptions of `message.to`. */
  publish(message: Message): Promise<void>;
  /** Listens to one user's events until the returned function is called. */
  subscribe(userId: string, listener: BusListener): () => void;
  /** Rejects when the bus cannot carry events (used by readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
