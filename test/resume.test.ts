import { describe, expect, it, vi } from 'vitest';
import { createParleyClient, memoryCursorStore, subscribeMessages, type Message } from '@parley/sdk';
import { startServer } from './helpers/server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { collect } from './helpers/collect.js';

describe('resume and offline delivery', () => {
  it('resumes after the socket is dropped: the 3 sent while away arrive exactly once, in order', async () => {
    await using t = await startServer();
    const proxy = await startTcpProxy(t.url);
    try {
      const alice = await t.client('alice');
      const bob = createParleyClient({ url: proxy.url, token: await t.token('bob') });
      await bob.me.query();
      const states: string[] = [];
      const inbox = collect(bob);
      const stateLog = setInterval(() => states.at(-1) !== bob.connectionState && states.push(bob.connectionState), 5);
      try {
        await alice.sendToUser.mutate({ to: 'bob', text: 'before' });
        await vi.waitFor(() => expect(inbox.texts()).toEqual(['before']));

        await proxy.cut();
        await vi.waitFor(() => expect(bob.connectionState).toBe('reconnecting'));
        for (const text of ['away 1', 'away 2', 'away 3']) await alice.sendToUser.mutate({ to: 'bob', text });
        await proxy.resume();

        await vi.waitFor(() => expect(inbox.texts()).toEqual(['before', 'away 1', 'away 2', 'away 3']), {
          timeout: 15_000,
        });
        expect(inbox.seqs()).toEqual([1, 2, 3, 4]);
        expect(states).toContain('reconnecting');
        expect(bob.connectionState).toBe('connected');
      } finally {
        clearInterval(stateLog);
        await bob.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('replays exactly the messages after a given lastEventId, then goes live', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    const stream: string[] = [];
    const send = async (text: string) => {
      await alice.sendToUser.mutate({ to: 'bob', text });
      stream.push(text);
    };
    for (let i = 1; i <= 5; i++) await send(`m${i}`);

    for (const lastEventId of ['0', '3', '5', String(stream.length + 1)]) {
      const inbox = collect(await t.client('bob'), { lastEventId });
      const after = Number(lastEventId);
      const marker = `live after ${lastEventId}`;
      await send(marker);
      // The marker is the stream's newest entry: a subscription ahead of it sees nothing.
      const expected = stream.slice(after);
      await vi.waitFor(() => expect(inbox.texts()).toEqual(expected));
      if (expected.length > 0) expect(inbox.texts().at(-1)).toBe(marker);
      inbox.unsubscribe();
    }
  });

  it('switches from replay to live with no gap and no duplicate while messages keep coming', async () => {
    await using t = await startServer({ sendRateLimit: null });
    const alice = await t.client('alice');
    await t.client('bob');
    for (let i = 1; i <= 600; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });
    const inbox = collect(await t.client('bob'), { lastEventId: '0' });
    for (let i = 601; i <= 800; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });

    await vi.waitFor(() => expect(inbox.messages).toHaveLength(800), { timeout: 15_000 });
    expect(inbox.seqs()).toEqual(Array.from({ length: 800 }, (_, i) => i + 1));
  });

  it('delivers messages sent while the user was offline on next connect without lastEventId, and not again after ack', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await (await t.http('bob')).me.query();
    await alice.sendToUser.mutate({ to: 'bob', text: 'while you were out 1' });
    await alice.sendToUser.mutate({ to: 'bob', text: 'while you were out 2' });

    const firstDevice = await t.client('bob');
    const received: Message[] = [];
    const sub = subscribeMessages(firstDevice, (m) => {
      received.push(m);
    });
    await vi.waitFor(() => expect(received.map((m) => m.text)).toEqual(['while you were out 1', 'while you were out 2']));
    await vi.waitFor(async () => expect((await firstDevice.conversations.query())[0]?.unread).toBe(0));
    sub.unsubscribe();

    await alice.sendToUser.mutate({ to: 'bob', text: 'new one' });
    const secondDevice = collect(await t.client('bob'));
    await vi.waitFor(() => expect(secondDevice.texts()).toEqual(['new one']));
  });

  it('hands each message to the subscribeMessages handler once, and resumes from the cursor store', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const cursor = memoryCursorStore();
    const seen: number[] = [];
    const first = subscribeMessages(bob, (m) => void seen.push(m.seq), { cursorStore: cursor, ack: false });
    for (let i = 1; i <= 3; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3]));
    first.unsubscribe();
    expect(cursor.get()).toBe('3');

    await alice.sendToUser.mutate({ to: 'bob', text: 'm4' });
    const second = subscribeMessages(bob, (m) => void seen.push(m.seq), { cursorStore: cursor, ack: false });
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4]));
    second.unsubscribe();
  });

  it('never moves the acknowledged position backwards or past the head of the stream', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.http('bob');
    await bob.me.query();
    for (let i = 1; i <= 3; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });

    expect(await bob.ack.mutate({ upTo: 2 })).toEqual({ ackedSeq: 2 });
    expect(await bob.ack.mutate({ upTo: 1 })).toEqual({ ackedSeq: 2 });
    expect(await bob.ack.mutate({ upTo: 100 })).toEqual({ ackedSeq: 3 });
    await alice.sendToUser.mutate({ to: 'bob', text: 'm4' });
    const inbox = collect(await t.client('bob'));
    await vi.waitFor(() => expect(inbox.texts()).toEqual(['m4']));
  });
});

describe('durability', () => {
  it('keeps every committed message across a restart on the same data dir', async () => {
    const first = await startServer();
    const alice = await first.client('alice');
    await first.client('bob');
    const sent: Message[] = [];
    for (let i = 1; i <= 20; i++) sent.push(await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` }));
    await first.stop();

    await using second = await startServer({ dataDir: first.dataDir });
    const inbox = collect(await second.client('bob'));
    await vi.waitFor(() => expect(inbox.messages).toHaveLength(20));
    expect(inbox.messages).toEqual(sent);
    const next = await (await second.client('alice')).sendToUser.mutate({ to: 'bob', text: 'after restart' });
    expect(next.seq).toBe(21);
    await first.close();
  });
});
