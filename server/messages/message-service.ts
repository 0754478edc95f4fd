/**
 * @module message-service
 * The domain: sending, the per-user stream (replay then live, no gap, no duplicate),
 * acknowledgements, history and conversations. It sees only the `Store` and `Bus`
 * interfaces, never a driver or a transport.
 */
import type { Bus, BusEvent } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import { ClientMsgIdConflictError } from './errors.js';
import type { Conversation, Message, NewMessage } from './message.js';
import type { MessagesPort } from '../router/ports.js';

/** How many stream entries one store read returns during replay. */
const replayPageSize = 500;
/**
 * Live events queued while the consumer is busy (e.g. replaying). Past this the queue is
 * dropped and the stream re-reads the store instead, so memory stays bounded.
 */
const maxQueuedEvents = 1000;

export class MessageService implements MessagesPort {
  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
  ) {}

  /** Stores the message durably, then announces it. Idempotent on `(from, clientMsgId)`. */
  async send(input: NewMessage): Promise<Message> {
    const { message, created } = await this.store.append(input);
    if (!created) {
      if (message.to !== input.to || message.text !== input.text) {
        throw new ClientMsgIdConflictError(input.clientMsgId ?? '');
      }
      return message;
    }
    await this.bus.publish(message);
    return message;
  }

  /**
   * The user's stream after `afterSeq` (or after their acknowledged seq when null):
   * stored messages first, then live ones, each exactly once and in seq order, until
   * `signal` aborts.
   */
  async *stream(userId: string, afterSeq: number | null, signal: AbortSignal): AsyncGenerator<Message> {
    const queue: BusEvent[] = [];
    let overflowed = false;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    // Listen before reading the store, so nothing committed during the replay is missed.
    const unsubscribe = this.bus.subscribe(userId, (event) => {
      if (queue.length >= maxQueuedEvents) {
        queue.length = 0;
        overflowed = true;
      } else {
        queue.push(event);
      }
      notify();
    });
    signal.addEventListener('abort', notify, { once: true });
    try {
      let last = afterSeq ?? (await this.store.ackedSeq(userId));
      last = yield* this.#replay(userId, last, signal);
      while (!signal.aborted) {
        if (queue.length === 0 && !overflowed) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        let needsReplay = overflowed;
        overflowed = false;
        for (const event of queue.splice(0)) {
          if (needsReplay) break;
          if (event.kind === 'resync') {
            needsReplay = true;
          } else if (event.message.seq === last + 1) {
            last = event.message.seq;
            yield event.message;
          } else if (event.message.seq > last + 1) {
            // A hole: the store has what the bus skipped.
            needsReplay = true;
          }
        }
        if (needsReplay) last = yield* this.#replay(userId, last, signal);
      }
    } finally {
      signal.removeEventListener('abort', notify);
      unsubscribe();
    }
  }

  async *#replay(userId: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<Message, number> {
    let last = afterSeq;
    while (!signal.aborted) {
      const page = await this.store.readStream(userId, last, replayPageSize);
      for (const message of page) {
        last = message.seq;
        yield message;
      }
      if (page.length < replayPageSize) break;
    }
    return last;
  }

  /** Raises the user's acknowledged seq (never lowers it, never past the stream's head). */
  async ack(userId: string, upTo: number): Promise<number> {
    return this.store.ack(userId, upTo);
  }

  history(userId: string, peer: string, before: string | null, limit: number): Promise<Message[]> {
    return this.store.history(userId, peer, before, limit);
  }

  conversations(userId: string): Promise<Conversation[]> {
    return this.store.conversations(userId);
  }
}
