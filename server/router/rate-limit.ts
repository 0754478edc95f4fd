/**
 * @module rate-limit
 * Takes a token from a rate limiter, or counts the refusal and throws it as a
 * `RateLimitedError` (TOO_MANY_REQUESTS, with when to retry); and the limits on sign-in
 * and sign-up.
 */
import type { RateLimiter, RouterMetrics } from './ports.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';
import type { SignInLimits } from '../limits/sign-in-limits.js';
import type { TokenBuckets } from '../limits/token-buckets.js';
import { InvalidCredentialsError } from '../messages/errors.js';

type Metrics = Pick<RouterMetrics, 'rateLimited'>;

export function takeOrThrow(
  limiter: RateLimiter | null,
  key: string,
  procedure: string,
  what: string,
  metrics: Metrics,
): void {
  const result = limiter?.take(key);
  if (!result || result.ok) return;
  metrics.rateLimited(procedure);
  throw new RateLimitedError(what, result.retryAfterMs);
}

/** Refuses, counting the refusal, when `key`'s bucket is empty; charges nothing either way. */
function refuseWhenEmpty(buckets: TokenBuckets, key: string, what: string, metrics: Metrics): void {
  const result = buckets.peek(key);
  if (result.ok) return;
  metrics.rateLimited('auth.login');
  throw new RateLimitedError(what, result.retryAfterMs);
}

/**
 * Charges a sign-up to its address, or refuses it: each one costs a scrypt hash and a
 * stored account, whether it succeeds or not.
 */
export function limitSignUps(limits: SignInLimits | null, address: string | null, metrics: Metrics): void {
  if (limits === null || address === null) return;
  takeOrThrow(limits.signUps, limits.addressKey(address), 'auth.register', 'Too many sign-up attempts from this address', metrics);
}

/**
 * Runs a sign-in under the limit on failed sign-ins, per address (checked first) and per
 * user id. A call is refused before the password is checked when either is used up, and
 * then charges nothing.
 *
 * Otherwise it holds one failure of the user id until it is answered, so parallel guesses
 * at one account cannot all pass a check made before any of them failed: a wrong password
 * keeps it, a success clears the id's failures, anything else gives it back. The address
 * is charged only once a sign-in has failed: holding a place there too would refuse an
 * office behind one address more than the burst of simultaneous good sign-ins. Parallel
 * guesses from one address at different ids can overshoot its limit, by at most the
 * sign-ins the password-hashing queue holds at once.
 */
export async function limitFailedSignIns<T>(
  limits: SignInLimits | null,
  at: { userId: string; address: string | null },
  metrics: Metrics,
  signIn: () => Promise<T>,
): Promise<T> {
  if (limits === null) return signIn();
  const { userIds, addresses } = limits;
  const addressKey = at.address === null ? null : limits.addressKey(at.address);
  if (addressKey !== null) refuseWhenEmpty(addresses, addressKey, 'Too many sign-in attempts from this address', metrics);
  refuseWhenEmpty(userIds, at.userId, 'Too many sign-in attempts for this user', metrics);
  userIds.take(at.userId);
  try {
    const result = await signIn();
    userIds.clear(at.userId);
    return result;
  } catch (error) {
    if (!(error instanceof InvalidCredentialsError)) userIds.giveBack(at.userId);
    else if (addressKey !== null) addresses.take(addressKey);
    throw error;
  }
}

/**
 * Runs a sign-in or sign-up, counting a refusal from further down (the password-hashing
 * queue is full) in `parley_rate_limited_total` like the limits' own.
 */
export async function countingRefusals<T>(procedure: string, metrics: Metrics, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RateLimitedError) metrics.rateLimited(procedure);
    throw error;
  }
}
