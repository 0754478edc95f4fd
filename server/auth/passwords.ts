/**
 * @module passwords
 * Password hashing with scrypt from node:crypto: a random salt per password, and a
 * constant-time comparison. Stored as `scrypt$N$r$p$salt$hash` (base64url) so the
 * parameters can be raised later without breaking existing hashes.
 *
 * scrypt runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise),
 * which the process shares with file and crypto work. At most `maxConcurrentHashes` run at
 * once, process-wide like the pool, so a burst of sign-ins leaves threads free; the next
 * `maxWaitingHashes` wait their turn, and past them a sign-in or sign-up is refused with
 * TOO_MANY_REQUESTS instead of queueing without end.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ConcurrencyLimit } from '../limits/concurrency-limit.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';

const params = { N: 16384, r: 8, p: 1 } as const;
const keyLength = 32;

export const maxConcurrentHashes = 2;
export const maxWaitingHashes = 64;
/** About how long the longest queue takes to drain (a hash takes tens of ms). */
const busyRetryAfterMs = 1000;

const hashing = new ConcurrencyLimit(
  maxConcurrentHashes,
  maxWaitingHashes,
  () => new RateLimitedError('Too many sign-ins at once on this server', busyRetryAfterMs),
);

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return hashing.run(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
      }),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** A hash that no password matches, so an unknown user costs as much time as a known one. */
export const unmatchableHash = `scrypt$${params.N}$${params.r}$${params.p}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(keyLength).toString('base64url')}`;

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
