/**
 * @module rate-limit
 * Takes a token from a rate limiter, or counts the refusal and throws it as a
 * `RateLimitedError` (TOO_MANY_REQUESTS, with when to retry); and the limit on failed
 * sign-ins.
 */
import type { RateLimiter, RouterMetrics } from './ports.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';
import { InvalidCredentialsError } from '../messages/errors.js';

/** A rate limiter that can also be asked without charging, and pay back; see limits/token-buckets.ts. */
export interface FailureLimiter extends RateLimiter {
  peek(key: string): ReturnType<RateLimiter['take']>;
  giveBack(key: string): void;
  clear(key: string): void;
}

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

/**
 * Runs a sign-in under the limit on failed sign-ins, per address (checked first) and per
 * user id. A call is refused before the password is checked when either is exhausted, and
 * then charges nothing. Otherwise it reserves one failure on both before it runs (so
 * parallel guesses cannot all pass a check made before any of them failed): a wrong
 * password keeps them; any other outcome gives them back, and a success also clears the
 * user id's failures.
 */
export async function limitFailedSignIns<T>(
  limiter: FailureLimiter | null,
  at: { userId: string; address: string | null },
  metrics: Pick<RouterMetrics, 'rateLimited'>,
  signIn: () => Promise<T>,
): Promise<T> {
  if (limiter === null) return signIn();
  const userKey = `user:${at.userId}`;
  const checks = [
    ...(at.address === null ? [] : [{ key: `ip:${at.address}`, what: 'Too many sign-in attempts from this address' }]),
    { key: userKey, what: 'Too many sign-in attempts for this user' },
  ];
  for (const { key, what } of checks) {
    const result = limiter.peek(key);
    if (!result.ok) {
      metrics.rateLimited('auth.login');
      throw new RateLimitedError(what, result.retryAfterMs);
    }
  }
  for (const { key } of checks) limiter.take(key);
  const giveBack = () => {
    for (const { key } of checks) limiter.giveBack(key);
  };
  try {
    const result = await signIn();
    giveBack();
    limiter.clear(userKey);
    return result;
  } catch (error) {
    if (!(error instanceof InvalidCredentialsError)) giveBack();
    throw error;
  }
}
