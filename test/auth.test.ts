import { describe, expect, it, vi } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createParleyClient, createParleyHttpClient } from '@parley/sdk';
import { startServer, signToken } from './helpers/server.js';
import { collect } from './helpers/collect.js';

/** Whether anything reached bob's stream, read through bob's own, valid, client. */
async function bobStreamLength(t: Awaited<ReturnType<typeof startServer>>): Promise<number> {
  const bob = await t.http('bob');
  const conversations = await bob.conversations.query();
  return conversations.reduce((n, c) => n + c.unread, 0);
}

describe('authentication', () => {
  const refused = [
    ['no token', async () => undefined],
    ['a token signed with another secret', async () => signToken('alice', 3600, 'another-secret-another-secret-another-secret')],
    ['an alg: none token', async () => new UnsecuredJWT({}).setSubject('alice').setExpirationTime('1h').encode()],
    ['an expired token', async () => signToken('alice', -10)],
    [
      'a token without exp',
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .sign(new TextEncoder().encode('test-secret-that-is-long-enough-for-hs256-0123456789')),
    ],
    ['a token with an invalid user id', async () => signToken('not a user id!')],
    ['garbage', async () => 'not.a.jwt'],
  ] as const;

  for (const [name, makeToken] of refused) {
    it(`refuses ${name} with UNAUTHORIZED and stores nothing (HTTP and WebSocket)`, async () => {
      await using t = await startServer();
      await t.client('bob');
      const token = await makeToken();
      const http = createParleyHttpClient({ url: t.url, token });
      await expect(http.sendToUser.mutate({ to: 'bob', text: 'x' })).rejects.toMatchObject({
        data: { code: 'UNAUTHORIZED' },
      });

      const ws = createParleyClient({ url: t.url, token: token ?? '' });
      try {
        await expect(ws.sendToUser.mutate({ to: 'bob', text: 'x' })).rejects.toMatchObject({
          data: { code: 'UNAUTHORIZED' },
        });
        const sub = collect(ws);
        await vi.waitFor(() => expect(sub.errors).toHaveLength(1));
        expect(sub.errors[0]).toMatchObject({ data: { code: 'UNAUTHORIZED' } });
      } finally {
        await ws.close();
      }
      expect(await bobStreamLength(t)).toBe(0);
    });
  }

  it('never echoes the token in an error message', async () => {
    await using t = await startServer();
    const token = await signToken('alice', -10);
    const http = createParleyHttpClient({ url: t.url, token });
    const error = await http.me.query().catch((e: unknown) => e);
    expect(String((error as Error).message)).not.toContain(token);
    expect((error as Error).message).toMatch(/expired/);
  });

  it('registers and signs in built-in accounts, returning a working token', async () => {
    await using t = await startServer();
    const anon = createParleyHttpClient({ url: t.url });
    const registered = await anon.auth.register.mutate({ userId: 'alice', password: 'correct horse' });
    expect(registered.expiresAt).toBeInstanceOf(Date);
    expect(registered.expiresAt.getTime()).toBeGreaterThan(Date.now());

    const session = await anon.auth.login.mutate({ userId: 'alice', password: 'correct horse' });
    const me = await createParleyHttpClient({ url: t.url, token: session.token }).me.query();
    expect(me).toEqual({ userId: 'alice' });
  });

  it('answers a wrong password and an unknown user alike, with UNAUTHORIZED', async () => {
    await using t = await startServer();
    const anon = createParleyHttpClient({ url: t.url });
    await anon.auth.register.mutate({ userId: 'alice', password: 'correct horse' });

    const wrong = await anon.auth.login.mutate({ userId: 'alice', password: 'wrong horse' }).catch((e: unknown) => e);
    const unknown = await anon.auth.login.mutate({ userId: 'nobody', password: 'wrong horse' }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect(unknown).toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect((wrong as Error).message).toBe((unknown as Error).message);
  });

  it('refuses to register a taken user id with CONFLICT', async () => {
    await using t = await startServer();
    const anon = createParleyHttpClient({ url: t.url });
    await anon.auth.register.mutate({ userId: 'alice', password: 'correct horse' });
    await expect(anon.auth.register.mutate({ userId: 'alice', password: 'another one' })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });
  });

  it('refuses a user known only through a token from signing in with a password', async () => {
    await using t = await startServer();
    await t.client('tokenuser');
    const anon = createParleyHttpClient({ url: t.url });
    await expect(anon.auth.login.mutate({ userId: 'tokenuser', password: 'anything at all' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
  });

  it('makes a user known when they first authenticate with a valid token', async () => {
    await using t = await startServer();
    const alice = await t.http('alice');
    await expect(alice.sendToUser.mutate({ to: 'dave', text: 'hello?' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });
    await (await t.http('dave')).me.query();
    await expect(alice.sendToUser.mutate({ to: 'dave', text: 'hello!' })).resolves.toMatchObject({ seq: 1 });
  });

  it('generates a secret on first start, keeps it in the data dir with mode 0600, and reuses it', async () => {
    const first = await startServer({ jwtSecret: undefined });
    const file = join(first.dataDir, 'jwt-secret');
    const anon = createParleyHttpClient({ url: first.url });
    const { token } = await anon.auth.register.mutate({ userId: 'alice', password: 'correct horse' });
    const secret = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    await first.stop();

    await using second = await startServer({ jwtSecret: undefined, dataDir: first.dataDir });
    expect(readFileSync(file, 'utf8')).toBe(secret);
    await expect(createParleyHttpClient({ url: second.url, token }).me.query()).resolves.toEqual({ userId: 'alice' });
    await first.close();
  });
});
