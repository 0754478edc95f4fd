import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../server/limits/token-buckets.js';
import { ConcurrencyLimit } from '../server/limits/concurrency-limit.js';
import { RateLimitedError } from '../server/limits/rate-limited-error.js';
import { limitFailedSignIns } from '../server/router/rate-limit.js';
import { createSignInLimits } from '../server/limits/sign-in-limits.js';
import { InvalidCredentialsError } from '../server/messages/errors.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('token buckets', () => {
  it('keeps memory bounded under a flood of fresh keys: never more buckets than the cap, the oldest dropped first', () => {
    const time = clock();
    const buckets = new TokenBuckets(1, 5, time.now, 100);
    for (let i = 0; i < 10_000; i++) {
      buckets.take(`fresh-${i}`);
      expect(buckets.size).toBeLessThanOrEqual(100);
    }
    expect(buckets.size).toBe(100);
    // The newest keys kept their charge; the oldest were dropped, so they are full again.
    for (let i = 0; i < 4; i++) buckets.take('fresh-9999');
    expect(buckets.take('fresh-9999').ok).toBe(false);
  });

  it('keeps a bucket in use when the cap drops others: a charge makes it the newest', () => {
    const buckets = new TokenBuckets(1, 1, clock().now, 3);
    buckets.take('busy');
    buckets.take('a');
    buckets.take('b');
    buckets.take('busy');
    buckets.take('c');
    expect(buckets.peek('busy').ok).toBe(false);
    expect(buckets.peek('a').ok).toBe(true);
  });

  it('answers a peek without charging or creating a bucket', () => {
    const buckets = new TokenBuckets(1 / 60, 2, clock().now);
    for (let i = 0; i < 1000; i++) expect(buckets.peek(`victim-${i}`)).toEqual({ ok: true });
    expect(buckets.size).toBe(0);
    buckets.take('k');
    buckets.take('k');
    const refused = buckets.peek('k');
    expect(refused.ok).toBe(false);
    expect(refused).toEqual(buckets.take('k'));
  });

  it('gives a token back and drops a bucket once it is full again; clear fills it at once', () => {
    const buckets = new TokenBuckets(1 / 60, 2, clock().now);
    buckets.take('k');
    buckets.take('k');
    buckets.giveBack('k');
    expect(buckets.size).toBe(1);
    buckets.giveBack('k');
    expect(buckets.size).toBe(0);
    buckets.take('k');
    buckets.take('k');
    buckets.clear('k');
    expect([buckets.take('k').ok, buckets.take('k').ok, buckets.take('k').ok]).toEqual([true, true, false]);
  });

  it('sweeps buckets idle long enough to be full again', () => {
    const time = clock();
    const buckets = new TokenBuckets(1, 2, time.now);
    buckets.take('idle');
    time.advance(61_000);
    buckets.take('active');
    expect(buckets.size).toBe(1);
  });
});

describe('the limit on failed sign-ins', () => {
  const metrics = { rateLimited: () => undefined };
  const wrongPassword = () => Promise.reject(new InvalidCredentialsError());
  const limitsOf = (burst: number, maxBuckets?: number) =>
    createSignInLimits({ perSecond: 1 / 60, burst }, (address) => address, { now: clock().now, maxBuckets });

  it('creates no bucket for a call refused for its address, however many user ids it names', async () => {
    const limits = limitsOf(3);
    for (let i = 0; i < 3; i++) {
      await expect(limitFailedSignIns(limits, { userId: `u${i}`, address: 'a' }, metrics, wrongPassword)).rejects.toThrow(
        InvalidCredentialsError,
      );
    }
    const before = limits.userIds.size;
    for (let i = 0; i < 1000; i++) {
      await expect(
        limitFailedSignIns(limits, { userId: `victim${i}`, address: 'a' }, metrics, wrongPassword),
      ).rejects.toThrow(RateLimitedError);
    }
    expect(limits.userIds.size).toBe(before);
    for (let i = 0; i < 1000; i++) expect(limits.userIds.peek(`victim${i}`)).toEqual({ ok: true });
  });

  it('charges nothing for a failure that is not a wrong password (a store outage, a busy server)', async () => {
    const limits = limitsOf(1);
    const outage = () => Promise.reject(new Error('store down'));
    for (let i = 0; i < 5; i++) {
      await expect(limitFailedSignIns(limits, { userId: 'alice', address: 'a' }, metrics, outage)).rejects.toThrow('store down');
    }
    expect([limits.userIds.size, limits.addresses.size]).toEqual([0, 0]);
  });

  it('keeps counting the failures of a user id while a flood of fresh addresses fills the address buckets', async () => {
    const limits = limitsOf(10, 100_000);
    for (let i = 0; i < 10; i++) {
      await expect(limitFailedSignIns(limits, { userId: 'victim', address: 'a' }, metrics, wrongPassword)).rejects.toThrow(
        InvalidCredentialsError,
      );
    }
    // 200k failures from fresh addresses (as many as IPv6 hands out), ten at each of 20k
    // other user ids: twice the cap of address buckets, which a shared cap let through to
    // the victim's bucket, dropping its count.
    const failure = new InvalidCredentialsError();
    for (let i = 0; i < 200_000; i++) {
      await limitFailedSignIns(limits, { userId: `decoy${i % 20_000}`, address: `fresh-${i}` }, metrics, () =>
        Promise.reject(failure),
      ).catch(() => undefined);
    }
    expect(limits.addresses.size).toBe(100_000);
    expect(limits.userIds.size).toBe(20_001);
    await expect(
      limitFailedSignIns(limits, { userId: 'victim', address: 'another' }, metrics, () => Promise.resolve('signed in')),
    ).rejects.toThrow(/^Too many sign-in attempts for this user/);
  });
});

describe('concurrency limit', () => {
  it('runs at most max jobs at once, queues the next in order, and refuses past the queue', async () => {
    const limit = new ConcurrencyLimit(2, 3, () => new RateLimitedError('Busy', 1000));
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const job = (n: number) => () =>
      new Promise<number>((resolve) => {
        started.push(n);
        releases.push(() => resolve(n));
      });
    const runs = [0, 1, 2, 3, 4].map((n) => limit.run(job(n)));
    await expect(limit.run(job(5))).rejects.toThrow(/^Busy: try again in 1 s$/);
    await Promise.resolve();
    expect([limit.running, limit.waiting, started]).toEqual([2, 3, [0, 1]]);

    for (let done = 0; done < 5; done++) {
      releases[done]?.();
      await runs[done];
      await new Promise((resolve) => setImmediate(resolve));
      expect(limit.running).toBeLessThanOrEqual(2);
    }
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a job that fails', async () => {
    const limit = new ConcurrencyLimit(1, 0, () => new Error('busy'));
    await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit.run(() => Promise.resolve('ok'))).resolves.toBe('ok');
  });
});
