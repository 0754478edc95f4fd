import { describe, expect, it } from 'vitest';
import { startServer } from './helpers/server.js';

describe('history and conversations', () => {
  it('pages through a conversation newest first, in both directions, with a cursor', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const carol = await t.client('carol');
    const texts: string[] = [];
    for (let i = 1; i <= 12; i++) {
      const [from, to] = i % 3 === 0 ? [bob, 'alice'] : [alice, 'bob'];
      const text = `m${i}`;
      await from.sendToUser.mutate({ to, text });
      texts.push(text);
      await carol.sendToUser.mutate({ to: 'alice', text: `noise ${i}` });
    }

    const pages: string[][] = [];
    let before: string | undefined;
    for (;;) {
      const page = await alice.history.query({ with: 'bob', limit: 5, ...(before ? { before } : {}) });
      pages.push(page.items.map((m) => m.text));
      if (page.nextCursor === null) break;
      before = page.nextCursor;
    }
    expect(pages).toEqual([
      ['m12', 'm11', 'm10', 'm9', 'm8'],
      ['m7', 'm6', 'm5', 'm4', 'm3'],
      ['m2', 'm1'],
    ]);
    const fromBobsSide = await bob.history.query({ with: 'alice', limit: 200 });
    expect(fromBobsSide.items.map((m) => m.text)).toEqual([...texts].reverse());
    expect(fromBobsSide.nextCursor).toBeNull();
  });

  it('gives an exact last page no further cursor', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    for (let i = 1; i <= 4; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });
    const page = await alice.history.query({ with: 'bob', limit: 4 });
    expect(page.items).toHaveLength(4);
    expect(page.nextCursor).toBeNull();
    expect(await alice.history.query({ with: 'nobody' })).toEqual({ items: [], nextCursor: null });
  });

  it('lists conversations most recent first, with the last message and unread counts per peer', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const carol = await t.client('carol');
    await t.client('dave');

    await bob.sendToUser.mutate({ to: 'alice', text: 'b1' });
    await bob.sendToUser.mutate({ to: 'alice', text: 'b2' });
    await carol.sendToUser.mutate({ to: 'alice', text: 'c1' });
    await alice.sendToUser.mutate({ to: 'dave', text: 'to dave' });

    let list = await alice.conversations.query();
    expect(list.map((c) => [c.peer, c.lastMessage.text, c.unread])).toEqual([
      ['dave', 'to dave', 0],
      ['carol', 'c1', 1],
      ['bob', 'b2', 2],
    ]);
    expect(list[0]?.lastMessage.sentAt).toBeInstanceOf(Date);

    await alice.ack.mutate({ upTo: 3 });
    await bob.sendToUser.mutate({ to: 'alice', text: 'b3' });
    list = await alice.conversations.query();
    expect(list.map((c) => [c.peer, c.lastMessage.text, c.unread])).toEqual([
      ['bob', 'b3', 1],
      ['dave', 'to dave', 0],
      ['carol', 'c1', 0],
    ]);
  });
});
