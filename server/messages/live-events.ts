/**
 * @module live-events
 * One stream's live events from the bus, queued while the stream is busy (replaying, or
 * waiting for its consumer). Listening starts when it is made, before the store is read,
 * so nothing committed meanwhile is missed; it stops on `close()` or when `signal`
 * aborts, so a stream opened but never iterated lets go of the bus too.
 */
import type { Bus, BusEvent } from '../bus/bus.js';

/**
 * Events queued while the consumer is busy. Past this the queue is dropped and the
 * stream re-reads the store instead, so memory stays bounded.
 */
const maxQueuedEvents = 1000;

export class LiveEvents {
  #queue: BusEvent[] = [];
  #overflowed = false;
  #wake: (() => void) | null = null;
  #unsubscribe: (() => void) | null;

  constructor(
    bus: Bus,
    userId: string,
    private readonly signal: AbortSignal,
  ) {
    this.#unsubscribe = bus.subscribe(userId, (event) => {
      if (this.#queue.length >= maxQueuedEvents) {
        this.#queue.length = 0;
        this.#overflowed = true;
      } else {
        this.#queue.push(event);
      }
      this.#notify();
    });
    signal.addEventListener('abort', this.close, { once: true });
  }

  /** Resolves once something is queued (or dropped), or the stream is aborted or closed. */
  async wait(): Promise<void> {
    if (this.#queue.length > 0 || this.#overflowed || this.#unsubscribe === null) return;
    await new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** What came since the last call; `overflowed`: some events were dropped, re-read the store. */
  take(): { events: BusEvent[]; overflowed: boolean } {
    const taken = { events: this.#queue, overflowed: this.#overflowed };
    this.#queue = [];
    this.#overflowed = false;
    return taken;
  }

  readonly close = (): void => {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.signal.removeEventListener('abort', this.close);
    this.#notify();
  };

  #notify(): void {
    this.#wake?.();
    this.#wake = null;
  }
}
