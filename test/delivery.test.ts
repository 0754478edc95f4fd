import { describe, expect, it, vi } from 'vitest';
import { startServer } from './helpers/server.js';
import { collect } from './helpers/collect.js';

describe('live delivery', () => {
  it('delivers a message live, with sentAt a Date on the client', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const inbox = collect(bob);
    const sent = await alice.sendToUser.mutate({ to: 'bob', text: 'hi bob' });

    await vi.waitFor(() => expect(inbox.messages).toHaveLength(1));
    const [got] = inbox.messages;
    expect(got).toEqual(sent);
    expect(got?.sentAt).toBeInstanceOf(Date);
    expect(got).toMatchObject({ from: 'alice', to: 'bob', text: 'hi bob', seq: 1 });
  });

  it('delivers every message to each open connection of the recipient', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const phone = collect(await t.client('bob'));
    const laptop = collect(await t.client('bob'));
    for (const text of ['one', 'two']) await alice.sendToUser.mutate({ to: 'bob', text });

    await vi.waitFor(() => {
      expect(phone.texts()).toEqual(['one', 'two']);
      expect(laptop.texts()).toEqual(['one', 'two']);
    });
  });

  it('takes the sender from the token: a forged from is refused and cannot change the sender', async () => {
    await using t = await startServer();
    const mallory = await t.client('mallory');
    await t.client('alice');
    const bobInbox = collect(await t.client('bob'));

    await expect(
      mallory.sendToUser.mutate({ to: 'bob', text: 'trust me', from: 'alice' } as never),
    ).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    const sent = await mallory.sendToUser.mutate({ to: 'bob', text: 'it is me' });
    expect(sent.from).toBe('mallory');
    await vi.waitFor(() => expect(bobInbox.messages.map((m) => [m.from, m.text])).toEqual([['mallory', 'it is me']]));
  });

  it('never shows a subscription another user’s messages', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const carol = await t.client('carol');
    const bobInbox = collect(await t.client('bob'));
    const carolInbox = collect(carol);

    await alice.sendToUser.mutate({ to: 'bob', text: 'for bob only' });
    await alice.sendToUser.mutate({ to: 'carol', text: 'for carol' });
    await vi.waitFor(() => expect(carolInbox.texts()).toEqual(['for carol']));
    await vi.waitFor(() => expect(bobInbox.texts()).toEqual(['for bob only']));
    // No input names whose stream it is.
    const sneaky = collect(carol, { lastEventId: null, userId: 'bob' } as never);
    await vi.waitFor(() => expect(sneaky.errors).toHaveLength(1));
    expect(sneaky.errors[0]).toMatchObject({ data: { code: 'BAD_REQUEST' } });
  });

  it('delivers 1,000 sequential messages in order with consecutive seqs', async () => {
    await using t = await startServer({ sendRateLimit: null });
    const alice = await t.client('alice');
    const inbox = collect(await t.client('bob'));
    for (let i = 1; i <= 1000; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });

    await vi.waitFor(() => expect(inbox.messages).toHaveLength(1000), { timeout: 20_000 });
    expect(inbox.seqs()).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(inbox.texts()).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i + 1}`));
  });

  it('gives 5 concurrent senders to one user a gapless seq sequence, each sender in its own order', async () => {
    await using t = await startServer({ sendRateLimit: null });
    const senders = await Promise.all(['s1', 's2', 's3', 's4', 's5'].map((id) => t.client(id)));
    const inbox = collect(await t.client('bob'));
    const perSender = 100;
    await Promise.all(
      senders.map(async (client, s) => {
        for (let i = 0; i < perSender; i++) await client.sendToUser.mutate({ to: 'bob', text: `s${s + 1}:${i}` });
      }),
    );

    await vi.waitFor(() => expect(inbox.messages).toHaveLength(5 * perSender), { timeout: 20_000 });
    expect(inbox.seqs()).toEqual(Array.from({ length: 5 * perSender }, (_, i) => i + 1));
    for (let s = 1; s <= 5; s++) {
      const mine = inbox.messages.filter((m) => m.from === `s${s}`).map((m) => m.text);
      expect(mine).toEqual(Array.from({ length: perSender }, (_, i) => `s${s}:${i}`));
    }
  });
});

describe('idempotent sends', () => {
  it('returns the original message for a repeated clientMsgId and delivers it once', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const inbox = collect(await t.client('bob'));
    const first = await alice.sendToUser.mutate({ to: 'bob', text: 'once', clientMsgId: 'c-1' });
    const again = await alice.sendToUser.mutate({ to: 'bob', text: 'once', clientMsgId: 'c-1' });
    await alice.sendToUser.mutate({ to: 'bob', text: 'marker' });

    expect(again).toEqual(first);
    await vi.waitFor(() => expect(inbox.texts()).toEqual(['once', 'marker']));
    expect(inbox.seqs()).toEqual([1, 2]);
  });

  it('refuses a clientMsgId reused for a different message with CONFLICT', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    await alice.sendToUser.mutate({ to: 'bob', text: 'first', clientMsgId: 'c-2' });

    await expect(alice.sendToUser.mutate({ to: 'bob', text: 'other', clientMsgId: 'c-2' })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });
  });

  it('gives each send a clientMsgId when the app sets none', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    const a = await alice.sendToUser.mutate({ to: 'bob', text: 'x' });
    const b = await alice.sendToUser.mutate({ to: 'bob', text: 'x' });

    expect(a.clientMsgId).toMatch(/^[0-9a-f]{32}$/);
    expect(b.clientMsgId).not.toBe(a.clientMsgId);
    expect(b.seq).toBe(a.seq + 1);
  });

  it('lets two senders use the same clientMsgId independently', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const carol = await t.client('carol');
    await t.client('bob');
    const a = await alice.sendToUser.mutate({ to: 'bob', text: 'from alice', clientMsgId: 'same' });
    const c = await carol.sendToUser.mutate({ to: 'bob', text: 'from carol', clientMsgId: 'same' });
    expect([a.seq, c.seq]).toEqual([1, 2]);
  });
});
