/**
 * @module message-service
 * The domain: sending, the per-user stream (replay then live, no gap, no duplicate),
 * acknowledgements, history and conversations. It sees only the `Store` and `Bus`
 * interfaces, never a driver or a transport.
 */
import type { Bus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import { ClientMsgIdConflictError, CursorPastHeadError } from './errors.js';
import { LiveEvents } from './live-events.js';
import { ReplaySlots } from './replay-slots.js';
import type { Conversation, Message, NewMessage } from './message.js';
import type { MessagesPort } from '../router/ports.js';

/**
 * How many stream entries one store read returns during replay. Each page is delivered
 * within one turn of the event loop, so a smaller page lets live sends in sooner.
 */
const replayPageSize = 50;

export interface MessageServiceLimits {
  /** Replays reading a page at once, over the whole server (each page is then delivered in that turn). */
  maxReplays: number;
  /** The same, per user (over all of their subscriptions). */
  maxReplaysPerUser: number;
}

export class MessageService implements MessagesPort {
  readonly #replaySlots: ReplaySlots;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    limits: MessageServiceLimits,
  ) {
    this.#replaySlots = new ReplaySlots(limits.maxReplays, limits.maxReplaysPerUser);
  }

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
   * Opens the user's stream after `afterSeq` (or after their acknowledged seq when null):
   * stored messages first, then live ones, each exactly once and in seq order, until
   * `signal` aborts. A cursor past the stream's head is refused here, before anything is
   * delivered: no message would ever reach it.
   */
  async stream(userId: string, afterSeq: number | null, signal: AbortSignal): Promise<AsyncIterable<Message>> {
    // An abort listener added now would never run, so nothing would let go of the bus.
    signal.throwIfAborted();
    const live = new LiveEvents(this.bus, userId, signal);
    try {
      if (afterSeq !== null) {
        // Read after listening: a message committed since is below the head read here.
        const head = await this.store.headSeq(userId);
        if (afterSeq > head) throw new CursorPastHeadError(afterSeq, head);
      }
    } catch (error) {
      live.close();
      throw error;
    }
    return this.#deliver(userId, afterSeq, live, signal);
  }

  async *#deliver(userId: string, afterSeq: number | null, live: LiveEvents, signal: AbortSignal): AsyncGenerator<Message> {
    try {
      let last = afterSeq ?? (await this.store.ackedSeq(userId));
      last = yield* this.#replay(userId, last, signal);
      while (!signal.aborted) {
        await live.wait();
        const { events, overflowed } = live.take();
        let needsReplay = overflowed;
        for (const event of events) {
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
      live.close();
    }
  }

  async *#replay(userId: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<Message, number> {
    let last = afterSeq;
    while (!signal.aborted) {
      const page = await this.#readPage(userId, last, signal);
      if (page === null) break;
      // Delivered in the turn it was read, while the client keeps up; one that does not
      // (backpressure) holds no slot meanwhile.
      for (const message of page) {
        last = message.seq;
        yield message;
      }
      if (page.length < replayPageSize) break;
    }
    return last;
  }

  /** The next replay page once this stream's turn comes, or null if `signal` aborts first. */
  async #readPage(userId: string, afterSeq: number, signal: AbortSignal): Promise<Message[] | null> {
    const release = await this.#replaySlots.acquire(userId, signal);
    if (release === null) return null;
    try {
      // Each page on a turn of its own: live sends get the event loop between pages, and
      // a slot handed over by another replay does not run within that one's turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return signal.aborted ? null : await this.store.readStream(userId, afterSeq, replayPageSize);
    } finally {
      release();
    }
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
