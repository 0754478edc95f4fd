/** @module rate-limited-error */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  readonly code = 'RATE_LIMITED';
  constructor(
    what: string,
    readonly retryAfterMs: number,
  ) {
    super(`${what}: try again in ${retryAfterMs < 1000 ? `${retryAfterMs} ms` : `${Math.ceil(retryAfterMs / 1000)} s`}`);
  }
}
