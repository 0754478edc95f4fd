/**
 * @module in-flight
 * Tracks requests that are running, so shutdown can wait for every accepted send to
 * commit and be answered before it closes sockets and the store.
 */

/**
 * The server is stopping and takes no new work. Retryable: nothing was done, and the
 * client may send the request again (here once back, or elsewhere).
 */
export class ShuttingDownError extends Error {
  override name = 'ShuttingDownError';
  readonly code = 'SHUTTING_DOWN';
  constructor() {
    super('The server is shutting down: try again shortly');
  }
}

export class InFlight {
  #count = 0;
  #refusing = false;
  #waiters: Array<() => void> = [];

  async track<T>(work: () => Promise<T>): Promise<T> {
    if (this.#refusing) throw new ShuttingDownError();
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

  /**
   * For shutdown: refuses new work from now on and waits for what is running, for up to
   * `timeoutMs`. Refusing at once, not once idle: under steady traffic the count may never
   * reach zero, and work admitted late would be stored after its socket closed. Once it
   * resolves (in time), nothing more will be stored, so every reply owed is on its way.
   */
  drain(timeoutMs: number): Promise<void> {
    this.#refusing = true;
    return this.idle(timeoutMs);
  }
}
