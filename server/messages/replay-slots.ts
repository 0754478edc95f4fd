/**
 * @module replay-slots
 * Bounds how many stream replays read a page of stored messages at once, per user and
 * per server, so that many subscriptions catching up on long streams take turns instead
 * of crowding out live sends. A replay holds a slot while it reads one page; a waiting
 * replay is served in arrival order as soon as a slot of its own user and of the server
 * is free (a user at their limit does not hold up other users).
 */

interface Waiter {
  userId: string;
  grant: () => void;
}

export class ReplaySlots {
  #running = 0;
  readonly #perUser = new Map<string, number>();
  readonly #waiting: Waiter[] = [];

  constructor(
    readonly maxPerServer: number,
    readonly maxPerUser: number,
  ) {}

  /**
   * Waits for a slot; resolves with its release, or with null if `signal` aborts first.
   * The release must be called exactly once.
   */
  acquire(userId: string, signal: AbortSignal): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null);
    // Whoever waits cannot fit (a release grants every waiter that does), so a newcomer
    // that fits takes no one's turn.
    if (this.#fits(userId)) return Promise.resolve(this.#take(userId));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        userId,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.#take(userId));
        },
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index !== -1) this.#waiting.splice(index, 1);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #fits(userId: string): boolean {
    return this.#running < this.maxPerServer && (this.#perUser.get(userId) ?? 0) < this.maxPerUser;
  }

  #take(userId: string): () => void {
    this.#running++;
    this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const left = (this.#perUser.get(userId) ?? 1) - 1;
      if (left === 0) this.#perUser.delete(userId);
      else this.#perUser.set(userId, left);
      this.#grantWaiting();
    };
  }

  #grantWaiting(): void {
    for (let i = 0; i < this.#waiting.length && this.#running < this.maxPerServer; ) {
      const waiter = this.#waiting[i]!;
      if (this.#fits(waiter.userId)) {
        this.#waiting.splice(i, 1);
        waiter.grant();
      } else {
        i++;
      }
    }
  }
}
