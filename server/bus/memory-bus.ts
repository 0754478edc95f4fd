/**
 * @module memory-bus
 * The in-process `Bus`: one listener set per user, so a publish touches only the
 * recipient's listeners.
 */
import type { Bus, BusEvent, BusListener } from './bus.js';
import type { Message } from '../messages/message.js';

export class MemoryBus implements Bus {
  readonly #listeners = new Map<string, Set<BusListener>>();

  publish(message: Message): Promise<void> {
    const listeners = this.#listeners.get(message.to);
    if (listeners) {
      const event: BusEvent = { kind: 'message', message };
      for (const listener of listeners) listener(event);
    }
    return Promise.resolve();
  }

  subscribe(userId: string, listener: BusListener): () => void {
    let listeners = this.#listeners.get(userId);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(userId, listeners);
    }
    listeners.add(listener);
    return () => {
      const current = this.#listeners.get(userId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.#listeners.delete(userId);
    };
  }

  /** How many users have at least one listener (lets tests see that nothing leaks). */
  get subscribedUsers(): number {
    return this.#listeners.size;
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }
}
