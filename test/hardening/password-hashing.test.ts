import { describe, expect, it } from 'vitest';
import { createParleyHttpClient, type AppRouter, type TRPCClientError } from '@parley/sdk';
import { startServer } from '../helpers/server.js';
import { maxConcurrentHashes, maxWaitingHashes } from '../../server/auth/passwords.js';

describe('password hashing', () => {
  it('does not starve token checks: a signed-in user is answered while 32 sign-ins are being hashed', async () => {
    // No sign-in limit: every one of the 32 calls costs a scrypt hash.
    await using t = await startServer({ loginRateLimit: null });
    const alice = await t.http('alice');
    await alice.me.query();
    const anon = createParleyHttpClient({ url: t.url });

    let settled = 0;
    const logins = Array.from({ length: 32 }, (_, i) =>
      anon.auth.login
        .mutate({ userId: `nobody${i}`, password: 'not the password' })
        .then(
          () => 'OK',
          (error: unknown) => (error as TRPCClientError<AppRouter>).data?.code,
        )
        .finally(() => settled++),
    );
    // Once one has been answered, the server is busy hashing the others.
    await Promise.race(logins);

    const startedAt = performance.now();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await alice.me.query());
    const elapsedMs = performance.now() - startedAt;
    const settledMeanwhile = settled;

    // Queued, not refused: 32 is within the hashing queue.
    expect(32).toBeLessThanOrEqual(maxConcurrentHashes + maxWaitingHashes);
    expect(await Promise.all(logins)).toEqual(Array.from({ length: 32 }, () => 'UNAUTHORIZED'));
    expect(answers).toEqual([{ userId: 'alice' }, { userId: 'alice' }, { userId: 'alice' }]);
    // Before: `me` queued behind the hashes in libuv's pool and came back with the last of
    // them. Now three in a row are answered while most sign-ins still wait, within a
    // generous second (a hash takes tens of ms; the three calls, a few ms each).
    expect(settledMeanwhile).toBeLessThan(16);
    expect(elapsedMs).toBeLessThan(1000);
  });
});
