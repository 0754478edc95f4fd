/**
 * @module rate-limit
 * Takes a token from a rate limiter, or counts the refusal and throws it as a
 * `RateLimitedError` (TOO_MANY_REQUESTS, with when to retry).
 */
import type { RateLimiter, RouterMetrics } from './ports.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';

export function takeOrThrow(
  limiter: RateLimiter | null,
  key: string,
  procedure: string,
  what: string,
  metrics: Pick<RouterMetrics, 'rateLimited'>,
): void {
  const result = limiter?.take(key);
  if (!result || result.ok) return;
  metrics.rateLimited(procedure);
  throw new RateLimitedError(what, result.retryAfterMs);
}
