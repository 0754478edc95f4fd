import { describe, expect, it } from 'vitest';
import { createParleyHttpClient, type AppRouter, type TRPCClientError } from '@parley/sdk';
import { startServer } from '../helpers/server.js';
import { metric } from '../helpers/metrics.js';

type ClientError = TRPCClientError<AppRouter>;

describe('password hashing', () => {
  it('does not starve token checks: a signed-in user is answered while 32 sign-ins are being hashed', async () => {
    // No sign-in limit: every one of the 32 calls costs a scrypt hash. 32 is within the
    // hashing queue (passwords.ts: 2 running, 64 waiting), so all are queued, none refused.
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
          (error: unknown) => (error as ClientError).data?.code,
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

    expect(await Promise.all(logins)).toEqual(Array.from({ length: 32 }, () => 'UNAUTHORIZED'));
    expect(answers).toEqual([{ userId: 'alice' }, { userId: 'alice' }, { userId: 'alice' }]);
    // Before: `me` queued behind the hashes in libuv's pool and came back with the last of
    // them. Now the three are answered while sign-ins still wait (the order, whatever the
    // speed of the machine), and within a generous 5 s on a loaded one.
    expect(settledMeanwhile).toBeLessThan(32);
    expect(elapsedMs).toBeLessThan(5000);
  });

  it('counts sign-ins and sign-ups refused by a full hashing queue in parley_rate_limited_total', async () => {
    await using t = await startServer({ loginRateLimit: null });
    const anon = createParleyHttpClient({ url: t.url });
    // Far more than the queue holds (66), all at once.
    const refusalOf = (call: Promise<unknown>) =>
      call.then(
        () => null,
        (error: unknown) => error as ClientError,
      );
    const logins = Array.from({ length: 150 }, (_, i) =>
      refusalOf(anon.auth.login.mutate({ userId: `nobody${i}`, password: 'not the password' })),
    );
    const registers = Array.from({ length: 150 }, (_, i) =>
      refusalOf(anon.auth.register.mutate({ userId: `newcomer${i}`, password: 'correct horse battery' })),
    );
    const busy = (errors: Array<ClientError | null>) =>
      errors.filter((error) => error?.data?.code === 'TOO_MANY_REQUESTS' && /^Too many sign-ins at once on this server/.test(error.message))
        .length;
    const busyLogins = busy(await Promise.all(logins));
    const busyRegisters = busy(await Promise.all(registers));

    expect(busyLogins + busyRegisters).toBeGreaterThan(0);
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'auth.login' })).toBe(busyLogins);
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'auth.register' })).toBe(busyRegisters);
  });
});
