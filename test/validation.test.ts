import { describe, expect, it } from 'vitest';
import { TRPCClientError, type AppRouter } from '@parley/sdk';
import { startServer } from './helpers/server.js';

/** The refusal of a call, typed as SDK users see it. */
async function refusal(call: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCClientError);
  return error as TRPCClientError<AppRouter>;
}

describe('input validation', () => {
  const badSends: Array<[string, Record<string, unknown>]> = [
    ['empty text', { to: 'bob', text: '' }],
    ['whitespace-only text', { to: 'bob', text: '  \n ' }],
    ['text over PARLEY_MAX_TEXT', { to: 'bob', text: 'x'.repeat(101) }],
    ['text of zero-width characters only', { to: 'bob', text: '\u200B\u200D \uFEFF\u2060' }],
    ['text of bidi marks, a soft hyphen, a variation selector and a Hangul filler only', { to: 'bob', text: '\u200E\u200F\u202E\u00AD\uFE0F\u3164' }],
    ['text of tag characters only', { to: 'bob', text: '\u{E0041}\u{E0042}' }],
    // Stored, these would come back other than acknowledged (SQLite: U+FFFD) or fail (PostgreSQL: NUL).
    ['text with a lone high surrogate', { to: 'bob', text: 'x\uD800y' }],
    ['text with a lone low surrogate', { to: 'bob', text: 'x\uDC00' }],
    ['text with a NUL character', { to: 'bob', text: 'a\u0000b' }],
    ['a recipient id with a space', { to: 'bo b', text: 'hi' }],
    ['a recipient id starting with a dot', { to: '.bob', text: 'hi' }],
    ['a recipient id of 65 characters', { to: 'b'.repeat(65), text: 'hi' }],
    ['a non-string text', { to: 'bob', text: 42 }],
    ['an unknown key', { to: 'bob', text: 'hi', priority: 'high' }],
    ['an empty clientMsgId', { to: 'bob', text: 'hi', clientMsgId: '' }],
    ['a clientMsgId over 128 characters', { to: 'bob', text: 'hi', clientMsgId: 'c'.repeat(129) }],
  ];

  for (const [name, input] of badSends) {
    it(`refuses ${name} with BAD_REQUEST and stores nothing`, async () => {
      await using t = await startServer({ maxTextLength: 100 });
      const alice = await t.client('alice');
      const bob = await t.http('bob');
      await bob.me.query();

      const error = await alice.sendToUser.mutate(input as never).catch((e: unknown) => e);
      expect(error).toMatchObject({ data: { code: 'BAD_REQUEST' } });
      expect((error as Error).message.length).toBeGreaterThan(0);
      expect(await bob.conversations.query()).toEqual([]);
    });
  }

  it('accepts text of exactly PARLEY_MAX_TEXT characters', async () => {
    await using t = await startServer({ maxTextLength: 100 });
    const alice = await t.client('alice');
    await t.client('bob');
    await expect(alice.sendToUser.mutate({ to: 'bob', text: 'x'.repeat(100) })).resolves.toMatchObject({ seq: 1 });
  });

  it('counts PARLEY_MAX_TEXT in characters: 100 emoji (200 UTF-16 units) fit, 101 do not', async () => {
    await using t = await startServer({ maxTextLength: 100 });
    const alice = await t.client('alice');
    await t.client('bob');
    await expect(alice.sendToUser.mutate({ to: 'bob', text: '😀'.repeat(100) })).resolves.toMatchObject({ seq: 1 });
    await expect(alice.sendToUser.mutate({ to: 'bob', text: '😀'.repeat(101) })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
  });

  it('stores astral characters, combining marks and text around zero-width joiners exactly as acknowledged', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.http('bob');
    await bob.me.query();
    const text = '👩\u200D👩\u200D👧 e\u0301 \u{10FFFF}';
    const sent = await alice.sendToUser.mutate({ to: 'bob', text, clientMsgId: 'exact-1' });
    expect(sent.text).toBe(text);
    const { items } = await bob.history.query({ with: 'alice' });
    expect(items.map((m) => m.text)).toEqual([text]);
    // A retry finds the same message, not a CONFLICT.
    await expect(alice.sendToUser.mutate({ to: 'bob', text, clientMsgId: 'exact-1' })).resolves.toMatchObject({ id: sent.id });
  });

  it('answers a message to an unknown recipient with NOT_FOUND and stores nothing', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await expect(alice.sendToUser.mutate({ to: 'ghost', text: 'boo' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
      message: expect.stringContaining('ghost'),
    });
    expect(await alice.conversations.query()).toEqual([]);
  });

  it('refuses malformed lastEventId, ack and history inputs with BAD_REQUEST', async () => {
    await using t = await startServer();
    const alice = await t.http('alice');
    await expect(alice.ack.mutate({ upTo: -1 })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    await expect(alice.ack.mutate({ upTo: 1.5 })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    await expect(alice.history.query({ with: 'bob', limit: 1000 })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
    await expect(alice.history.query({ with: 'bob', before: 'abc' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
    await expect(alice.auth.register.mutate({ userId: 'x y', password: 'long enough' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
    await expect(alice.auth.register.mutate({ userId: 'xy', password: 'short' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
  });

  // Clients used to parse zod's issues out of error.message to show which field was wrong.
  for (const transport of ['HTTP', 'WebSocket'] as const) {
    it(`names each refused field in error.data.fieldErrors and a one-line message over ${transport}, not zod's JSON`, async () => {
      await using t = await startServer({ maxTextLength: 100 });
      const alice = transport === 'HTTP' ? await t.http('alice') : await t.client('alice');
      const error = await refusal(alice.sendToUser.mutate({ to: '.bob', text: 'x'.repeat(101) }));
      expect(error.data?.code).toBe('BAD_REQUEST');
      expect(error.data?.fieldErrors).toEqual({
        to: ['must be 1-64 characters: letters, digits, and _ . - (not first)'],
        text: ['must be at most 100 characters'],
      });
      expect(error.data?.formErrors).toEqual([]);
      expect(error.message).toBe(
        'to: must be 1-64 characters: letters, digits, and _ . - (not first); text: must be at most 100 characters',
      );
    });

    it(`puts an unknown key in error.data.formErrors over ${transport}, with the field errors empty`, async () => {
      await using t = await startServer();
      const alice = transport === 'HTTP' ? await t.http('alice') : await t.client('alice');
      const error = await refusal(alice.ack.mutate({ upTo: 1, later: true } as never));
      expect(error.data).toMatchObject({ code: 'BAD_REQUEST', fieldErrors: {}, formErrors: ['Unrecognized key: "later"'] });
      expect(error.message).toBe('Unrecognized key: "later"');
    });
  }

  it('leaves fieldErrors and formErrors null on errors that are not about the input', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const error = await refusal(alice.sendToUser.mutate({ to: 'ghost', text: 'boo' }));
    expect(error.data).toMatchObject({ code: 'NOT_FOUND', fieldErrors: null, formErrors: null, retryAfterMs: null });
  });
});
