/**
 * @module in-flight
 * Tracks requests that are running, so shutdown can wait for every accepted send to
 * commit and be answered before it closes sockets and the store.
 */
export class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];

  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#count++;
    try {
      return await work();
    } finally {
      this.#count--;
      if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  get count(): number {
    return this.#count;
  }

  /** Resolves when nothing is running, or after `timeoutMs`, whichever comes first. */
  idle(timeoutMs: number): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
