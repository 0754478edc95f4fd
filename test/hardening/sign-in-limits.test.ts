import { describe, expect, it } from 'vitest';
import type { AppRouter, TRPCClientError } from '@parley/sdk';
import { startServer, type TestServer } from '../helpers/server.js';
import { httpClientFrom } from '../helpers/from-address.js';

type ClientError = TRPCClientError<AppRouter>;

const password = 'correct horse battery';
/** Three failures a minute per user id and per address, refilling too slowly to matter here. */
const limit = { loginRateLimit: { perSecond: 1 / 60, burst: 3 } };

function codeOf(call: Promise<unknown>): Promise<string | undefined> {
  return call.then(
    () => 'OK',
    (error: unknown) => (error as ClientError).data?.code,
  );
}

/** Registers each user from an address of its own (sign-ups are limited per address). */
async function register(t: TestServer, userIds: string[]): Promise<void> {
  await Promise.all(
    userIds.map((userId, i) => httpClientFrom(t.url, `127.0.1.${1 + i}`).auth.register.mutate({ userId, password })),
  );
}

describe('limits on sign-in', () => {
  it('an address over its own limit cannot lock other accounts out of sign-in', async () => {
    await using t = await startServer(limit);
    const victims = Array.from({ length: 20 }, (_, i) => `victim${i}`);
    await register(t, victims);
    const attacker = httpClientFrom(t.url, '127.0.0.2');
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(attacker.auth.login.mutate({ userId: `nobody${i}`, password: 'a wrong guess' }))).toBe('UNAUTHORIZED');
    }

    // 200 guesses, 10 per victim, all refused for their address.
    const refused = await Promise.all(
      victims.flatMap((userId) =>
        Array.from({ length: 10 }, () =>
          attacker.auth.login.mutate({ userId, password: 'a wrong guess' }).then(
            () => null,
            (e: unknown) => e as ClientError,
          ),
        ),
      ),
    );
    for (const error of refused) {
      expect(error?.data?.code).toBe('TOO_MANY_REQUESTS');
      expect(error?.message).toMatch(/^Too many sign-in attempts from this address/);
    }

    // Every victim still signs in from another address, and the session works.
    const office = httpClientFrom(t.url, '127.0.0.3');
    for (const userId of victims) {
      const { token } = await office.auth.login.mutate({ userId, password });
      expect(await httpClientFrom(t.url, '127.0.0.3', token).me.query()).toEqual({ userId });
    }
  });

  it('good sign-ins never lock an id or an address out: one id ten times in a row, and a whole office behind one address', async () => {
    await using t = await startServer(limit);
    const staff = Array.from({ length: 12 }, (_, i) => `staff${i}`);
    await register(t, staff);
    const office = httpClientFrom(t.url, '127.0.0.4');
    for (let i = 0; i < 10; i++) {
      expect(await codeOf(office.auth.login.mutate({ userId: 'staff0', password }))).toBe('OK');
    }
    for (const userId of staff) expect(await codeOf(office.auth.login.mutate({ userId, password }))).toBe('OK');
  });

  it('wrong passwords lock the id after the limit, the right one is then refused with retryAfterMs, and a success had cleared the count', async () => {
    await using t = await startServer(limit);
    await register(t, ['alice']);
    const from = (n: number) => httpClientFrom(t.url, `127.0.0.${10 + n}`);
    const attempt = (n: number, pw: string) => codeOf(from(n).auth.login.mutate({ userId: 'alice', password: pw }));

    // Two failures, then a success: the count starts over, so three more failures are needed.
    expect([await attempt(0, 'wrong password'), await attempt(1, 'wrong password'), await attempt(2, password)]).toEqual([
      'UNAUTHORIZED',
      'UNAUTHORIZED',
      'OK',
    ]);
    expect([await attempt(3, 'wrong password'), await attempt(4, 'wrong password'), await attempt(5, 'wrong password')]).toEqual([
      'UNAUTHORIZED',
      'UNAUTHORIZED',
      'UNAUTHORIZED',
    ]);

    const refused = (await from(6)
      .auth.login.mutate({ userId: 'alice', password })
      .catch((e: unknown) => e)) as ClientError;
    expect(refused.data?.code).toBe('TOO_MANY_REQUESTS');
    expect(refused.data?.retryAfterMs).toBeGreaterThan(50_000);
    expect(refused.message).toMatch(/^Too many sign-in attempts for this user: try again in \d+ s$/);
  });

  it('parallel guesses cannot slip past the limit before any of them has failed', async () => {
    await using t = await startServer(limit);
    await register(t, ['alice']);
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        codeOf(httpClientFrom(t.url, `127.0.2.${1 + i}`).auth.login.mutate({ userId: 'alice', password: `wrong guess ${i}` })),
      ),
    );
    expect(codes.filter((c) => c === 'UNAUTHORIZED')).toHaveLength(3);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(17);

    // The same from one address: the user id's count holds them, not the address's.
    await register(t, ['bob']);
    const guesser = httpClientFrom(t.url, '127.0.2.100');
    const fromOne = await Promise.all(
      Array.from({ length: 20 }, (_, i) => codeOf(guesser.auth.login.mutate({ userId: 'bob', password: `wrong guess ${i}` }))),
    );
    expect(fromOne.filter((c) => c === 'UNAUTHORIZED')).toHaveLength(3);
    expect(fromOne.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(17);
  });

  it('an office behind one address is not locked out by signing in all at once: 30 simultaneous good sign-ins succeed, and its failures still count', async () => {
    await using t = await startServer(limit);
    const staff = Array.from({ length: 30 }, (_, i) => `clerk${i}`);
    await register(t, staff);
    const office = httpClientFrom(t.url, '127.0.0.7');
    const codes = await Promise.all(staff.map((userId) => codeOf(office.auth.login.mutate({ userId, password }))));
    expect(codes).toEqual(staff.map(() => 'OK'));

    // The burst of failures from the address, each at an id of its own; then an id it
    // has not tried yet is refused for the address.
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(office.auth.login.mutate({ userId: `clerk${i}`, password: 'a mistyped password' }))).toBe('UNAUTHORIZED');
    }
    const refused = (await office.auth.login.mutate({ userId: 'clerk29', password }).catch((e: unknown) => e)) as ClientError;
    expect(refused.data?.code).toBe('TOO_MANY_REQUESTS');
    expect(refused.message).toMatch(/^Too many sign-in attempts from this address/);
  });

  it('sign-ups stay limited per address, whether they succeed or not', async () => {
    await using t = await startServer(limit);
    const from = httpClientFrom(t.url, '127.0.0.5');
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 5; i++) codes.push(await codeOf(from.auth.register.mutate({ userId: `new${i}`, password })));
    expect(codes).toEqual(['OK', 'OK', 'OK', 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);
    expect(await codeOf(httpClientFrom(t.url, '127.0.0.6').auth.register.mutate({ userId: 'new9', password }))).toBe('OK');
  });
});
