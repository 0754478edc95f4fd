/**
 * @module token-buckets
 * Rate limits per key (user id, address): each key has a bucket of `burst` tokens that
 * refills at `ratePerSecond`; a request takes one token or is refused with the time
 * until one is back.
 */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Buckets idle long enough to be full again are dropped, so memory follows active keys. */
const sweepEveryMs = 60_000;

export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep = Date.now();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): TakeResult {
    const now = this.now();
    if (now - this.#lastSweep > sweepEveryMs) this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.burst, updatedAt: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond);
    bucket.updatedAt = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.ratePerSecond) * 1000) };
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedAt > fullAfterMs) this.#buckets.delete(key);
    }
  }
}
