/**
 * @module token-buckets
 * Rate limits per key (user id, address): each key has a bucket of `burst` tokens that
 * refills at `ratePerSecond`; a request takes one token or is refused with the time
 * until one is back. A key without a bucket is full, so only keys that were charged
 * take memory.
 */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Buckets idle long enough to be full again are dropped, so memory follows active keys. */
const sweepEveryMs = 60_000;

/**
 * At most this many buckets by default (about 150 bytes each); past it the least recently
 * charged one is dropped (forgetting its debt), so a flood of fresh keys cannot grow memory.
 */
export const defaultMaxBuckets = 100_000;

export class TokenBuckets {
  /** In order of last charge (a charged bucket is re-inserted), so the first is the oldest. */
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
    readonly maxBuckets = defaultMaxBuckets,
  ) {
    this.#lastSweep = now();
  }

  /** Buckets held now (each key charged and not yet full again or dropped). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token for `key`, or says when one is back (a refusal also counts as use). */
  take(key: string): TakeResult {
    const now = this.now();
    if (now - this.#lastSweep > sweepEveryMs) this.#sweep(now);
    const bucket = this.#refilled(key, now) ?? { tokens: this.burst, updatedAt: now };
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.maxBuckets) this.#dropOldest();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return this.#refusal(bucket);
  }

  /** Whether `take` would succeed now, without charging or creating anything. */
  peek(key: string): TakeResult {
    const bucket = this.#refilled(key, this.now());
    return !bucket || bucket.tokens >= 1 ? { ok: true } : this.#refusal(bucket);
  }

  /** Returns a token taken for a request that turned out not to count. */
  giveBack(key: string): void {
    const bucket = this.#refilled(key, this.now());
    if (!bucket) return;
    bucket.tokens += 1;
    if (bucket.tokens >= this.burst) this.#buckets.delete(key);
  }

  /** Fills the bucket of `key` again. */
  clear(key: string): void {
    this.#buckets.delete(key);
  }

  #refilled(key: string, now: number): Bucket | undefined {
    const bucket = this.#buckets.get(key);
    if (!bucket) return undefined;
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond);
    bucket.updatedAt = now;
    return bucket;
  }

  #refusal(bucket: Bucket): TakeResult {
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.ratePerSecond) * 1000) };
  }

  #dropOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedAt > fullAfterMs) this.#buckets.delete(key);
    }
  }
}
