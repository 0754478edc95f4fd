/**
 * @module concurrency-limit
 * Runs at most `max` jobs at once; later ones wait in order, up to `maxWaiting`, and past
 * that are refused at once with the error `refusal` makes (waiting would only pile up).
 */
export class ConcurrencyLimit {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly max: number,
    readonly maxWaiting: number,
    private readonly refusal: () => Error,
  ) {}

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.max) {
      if (this.#waiting.length >= this.maxWaiting) throw this.refusal();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await job();
    } finally {
      // The slot passes straight to the next in line, so `running` never dips below it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
