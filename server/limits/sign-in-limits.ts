/**
 * @module sign-in-limits
 * The buckets behind PARLEY_LOGIN_LIMIT: failed sign-ins per user id and per address, and
 * sign-ups per address. Each kind has buckets of its own, under a cap of its own, so a
 * flood of fresh keys of one kind (addresses are cheap, with IPv6 most of all) drops only
 * buckets of that kind, never the failures counted against a user id.
 */
import { defaultMaxBuckets, TokenBuckets } from './token-buckets.js';

export interface SignInLimits {
  /** Failed sign-ins per user id. */
  userIds: TokenBuckets;
  /** Failed sign-ins per address, keyed by `addressKey`. */
  addresses: TokenBuckets;
  /** Sign-ups per address, keyed by `addressKey`. */
  signUps: TokenBuckets;
  /** What an address counts under (transport/client-address.ts: an IPv6 address by its /64). */
  addressKey(address: string): string;
}

export function createSignInLimits(
  rate: { perSecond: number; burst: number },
  addressKey: (address: string) => string,
  options: { now?: () => number; maxBuckets?: number } = {},
): SignInLimits {
  const buckets = () => new TokenBuckets(rate.perSecond, rate.burst, options.now, options.maxBuckets ?? defaultMaxBuckets);
  return { userIds: buckets(), addresses: buckets(), signUps: buckets(), addressKey };
}
