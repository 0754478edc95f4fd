import { describe, expect, it, vi } from 'vitest';
import { createParleyHttpClient, type AppRouter, type TRPCClientError } from '@parley/sdk';
import { startServer } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { metric } from '../helpers/metrics.js';
import { httpClientFrom } from '../helpers/from-address.js';

type ClientError = TRPCClientError<AppRouter>;

function refusal(result: PromiseSettledResult<unknown>): ClientError | null {
  return result.status === 'rejected' ? (result.reason as ClientError) : null;
}

describe('rate limits', () => {
  it('refuses a flood from one user with TOO_MANY_REQUESTS and retryAfterMs while another user’s messages still flow', async () => {
    await using t = await startServer({ sendRateLimit: { perSecond: 5, burst: 10 } });
    const flooder = await t.client('mallory');
    const carol = await t.client('carol');
    const bobInbox = collect(await t.client('bob'));

    const startedAt = Date.now();
    const carolSends = (async () => {
      for (let i = 0; i < 10; i++) await carol.sendToUser.mutate({ to: 'bob', text: `carol ${i}` });
    })();
    const flood = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => flooder.sendToUser.mutate({ to: 'bob', text: `flood ${i}` })),
    );
    const refillable = Math.floor(((Date.now() - startedAt) / 1000) * 5);
    const refused = flood.map(refusal).filter((e): e is ClientError => e !== null);
    const accepted = flood.length - refused.length;
    // The burst, plus what refilled while the flood was answered, gets through; no more.
    expect(accepted).toBeGreaterThanOrEqual(10);
    expect(accepted).toBeLessThanOrEqual(10 + refillable + 1);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.data?.code).toBe('TOO_MANY_REQUESTS');
      expect(error.data?.retryAfterMs).toBeGreaterThan(0);
      expect(error.data?.retryAfterMs).toBeLessThanOrEqual(1000 / 5);
      expect(error.message).toMatch(/^Too many messages: try again in \d+ ms$/);
    }
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'sendToUser' })).toBe(refused.length);

    // Carol, sending during the flood, was never limited by mallory's bucket.
    await carolSends;
    const fromCarol = () => bobInbox.messages.filter((m) => m.from === 'carol').map((m) => m.text);
    await vi.waitFor(() => expect(fromCarol()).toEqual(Array.from({ length: 10 }, (_, i) => `carol ${i}`)));
    await vi.waitFor(() => expect(bobInbox.messages.filter((m) => m.from === 'mallory')).toHaveLength(accepted));

    // Once the bucket has refilled, the flooder may send again.
    await vi.waitFor(() => flooder.sendToUser.mutate({ to: 'bob', text: 'later' }), { timeout: 3000, interval: 50 });
  });

  it('refuses sign-in attempts for one user id past the limit of failures, even with the right password', async () => {
    await using t = await startServer({ loginRateLimit: { perSecond: 1 / 60, burst: 3 } });
    const http = createParleyHttpClient({ url: t.url });
    await http.auth.register.mutate({ userId: 'alice', password: 'correct horse battery' });
    // Each guess from its own address, so only the user id's count runs out.
    for (let i = 0; i < 3; i++) {
      await expect(
        httpClientFrom(t.url, `127.0.0.${2 + i}`).auth.login.mutate({ userId: 'alice', password: `wrong password ${i}` }),
      ).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    }
    const limited = (await httpClientFrom(t.url, '127.0.0.9')
      .auth.login.mutate({ userId: 'alice', password: 'correct horse battery' })
      .catch((error: unknown) => error)) as ClientError;
    expect(limited.data).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(limited.data?.retryAfterMs).toBeGreaterThan(50_000);
    expect(limited.message).toMatch(/^Too many sign-in attempts for this user: try again in \d+ s$/);
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'auth.login' })).toBe(1);
  });

  it('refuses sign-in attempts from one address past the limit, across user ids', async () => {
    await using t = await startServer({ loginRateLimit: { perSecond: 1 / 60, burst: 3 } });
    const http = createParleyHttpClient({ url: t.url });
    const codes: unknown[] = [];
    let lastMessage = '';
    for (const userId of ['u1', 'u2', 'u3', 'u4', 'u5']) {
      const error = (await http.auth.login
        .mutate({ userId, password: 'no such account' })
        .catch((e: unknown) => e)) as ClientError;
      codes.push(error.data?.code);
      lastMessage = error.message;
    }
    expect(codes).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);
    expect(lastMessage).toMatch(/^Too many sign-in attempts from this address: try again in \d+ s$/);
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'auth.login' })).toBe(2);
  });
});
