/**
 * The `Store` contract (server/store/store.ts), as tests every implementation must pass.
 * Each test gets a fresh, empty database from the factory; `second` is another instance
 * on the same database, as a second node (or process) would open it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../server/store/store.js';
import type { NewMessage } from '../../server/messages/message.js';
import { UnknownRecipientError } from '../../server/messages/errors.js';

/** Rows of a database at schema version 1 (before the conversation summary existed). */
export interface Version1Data {
  users: Array<{ id: string; headSeq: number; ackedSeq: number }>;
  /** In id order; `sentAt` in ms. */
  messages: Array<{ from: string; to: string; seq: number; text: string; sentAt: number }>;
}

export interface StoreHarness {
  store: Store;
  second: Store;
  /**
   * Writes `data` into a new database at schema version 1, then opens it with the current
   * store (which migrates it); `dispose` closes that store too.
   */
  openVersion1(data: Version1Data): Promise<Store>;
  dispose(): Promise<void>;
}

export function describeStoreContract(name: string, open: () => Promise<StoreHarness>): void {
  describe(`${name} (Store contract)`, () => {
    let harness: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      harness = await open();
      store = harness.store;
      for (const user of ['alice', 'bob', 'carol', 'dave']) await store.ensureUser(user);
    });
    afterEach(() => harness.dispose());

    const msg = (from: string, to: string, text: string, clientMsgId: string | null = null): NewMessage => ({
      from,
      to,
      text,
      clientMsgId,
    });

    it('gives each message of a stream the next seq, starting at 1, and returns it as stored', async () => {
      const first = await store.append(msg('alice', 'bob', 'one'));
      const second = await store.append(msg('carol', 'bob', 'two'));
      const other = await store.append(msg('bob', 'alice', 'three'));
      expect([first.message.seq, second.message.seq, other.message.seq]).toEqual([1, 2, 1]);
      expect(first.created).toBe(true);
      expect(first.message.sentAt).toBeInstanceOf(Date);
      expect(await store.readStream('bob', 0, 10)).toEqual([first.message, second.message]);
      expect(await store.headSeq('bob')).toBe(2);
    });

    it('keeps seqs gapless and unique when many appends to one stream run at once, from two instances', async () => {
      const senders = ['alice', 'carol', 'dave'];
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? store : harness.second).append(msg(senders[i % 3] as string, 'bob', `m${i}`)),
        ),
      );
      const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const stream = await store.readStream('bob', 0, 100);
      expect(stream.map((m) => m.seq)).toEqual(seqs);
      expect(await store.headSeq('bob')).toBe(60);
    });

    it('keeps each sender’s order within the stream when senders append concurrently', async () => {
      const sendAll = async (from: string) => {
        for (let i = 0; i < 15; i++) await store.append(msg(from, 'bob', `${from} ${i}`));
      };
      await Promise.all([sendAll('alice'), sendAll('carol'), sendAll('dave')]);
      const stream = await store.readStream('bob', 0, 100);
      expect(stream.map((m) => m.seq)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
      for (const from of ['alice', 'carol', 'dave']) {
        const texts = stream.filter((m) => m.from === from).map((m) => m.text);
        expect(texts).toEqual(Array.from({ length: 15 }, (_, i) => `${from} ${i}`));
      }
    });

    it('returns the original with created false when (from, clientMsgId) is appended again', async () => {
      const original = await store.append(msg('alice', 'bob', 'hello', 'c-1'));
      const again = await store.append(msg('alice', 'bob', 'hello', 'c-1'));
      expect(again).toEqual({ message: original.message, created: false });
      expect(await store.headSeq('bob')).toBe(1);
    });

    it('stores one message when the same (from, clientMsgId) is appended concurrently through two instances', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? store : harness.second).append(msg('alice', 'bob', 'once', 'dup'))),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      expect(await store.readStream('bob', 0, 10)).toHaveLength(1);
      // The losers' seq bump was rolled back: the next message is seq 2.
      expect((await store.append(msg('carol', 'bob', 'next'))).message.seq).toBe(2);
    });

    it('treats one clientMsgId from two senders as two messages', async () => {
      const a = await store.append(msg('alice', 'bob', 'from alice', 'same'));
      const c = await store.append(msg('carol', 'bob', 'from carol', 'same'));
      expect([a.created, c.created]).toEqual([true, true]);
      expect(c.message.seq).toBe(2);
    });

    it('rejects an append to an unknown recipient and stores nothing', async () => {
      await expect(store.append(msg('alice', 'nobody', 'hi'))).rejects.toBeInstanceOf(UnknownRecipientError);
      expect(await store.getUser('nobody')).toBeNull();
      expect(await store.readStream('nobody', 0, 10)).toEqual([]);
      expect(await store.conversations('alice')).toEqual([]);
    });

    it('pages through a stream with readStream: after a seq, ascending, at most limit', async () => {
      for (let i = 1; i <= 7; i++) await store.append(msg('alice', 'bob', `m${i}`));
      const pages: number[][] = [];
      for (let after = 0; ; ) {
        const page = await store.readStream('bob', after, 3);
        if (page.length === 0) break;
        pages.push(page.map((m) => m.seq));
        after = page.at(-1)?.seq ?? after;
      }
      expect(pages).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
      expect(await store.readStream('bob', 7, 3)).toEqual([]);
      expect(await store.readStream('alice', 0, 3)).toEqual([]);
    });

    it('raises the acknowledged seq with ack, never lowers it, and never moves it past the head', async () => {
      for (let i = 1; i <= 5; i++) await store.append(msg('alice', 'bob', `m${i}`));
      expect(await store.ackedSeq('bob')).toBe(0);
      expect(await store.ack('bob', 3)).toBe(3);
      expect(await store.ack('bob', 1)).toBe(3);
      expect(await store.ackedSeq('bob')).toBe(3);
      expect(await store.ack('bob', 99)).toBe(5);
      expect(await store.ackedSeq('bob')).toBe(5);
      expect(await store.ack('alice', 10)).toBe(0);
    });

    it('reports 0 for the head and acknowledged seq of an empty or unknown stream', async () => {
      expect(await store.headSeq('alice')).toBe(0);
      expect(await store.ackedSeq('alice')).toBe(0);
      expect(await store.headSeq('nobody')).toBe(0);
      expect(await store.ackedSeq('nobody')).toBe(0);
    });

    it('returns the history with one peer in both directions, newest first, paged by message id', async () => {
      const sent: string[] = [];
      for (let i = 1; i <= 5; i++) {
        const [from, to] = i % 2 ? ['alice', 'bob'] : ['bob', 'alice'];
        sent.push((await store.append(msg(from as string, to as string, `m${i}`))).message.text);
        await store.append(msg('carol', 'alice', `noise ${i}`));
      }
      const first = await store.history('alice', 'bob', null, 2);
      expect(first.map((m) => m.text)).toEqual(['m5', 'm4']);
      const second = await store.history('alice', 'bob', first.at(-1)?.id ?? null, 2);
      expect(second.map((m) => m.text)).toEqual(['m3', 'm2']);
      const last = await store.history('alice', 'bob', second.at(-1)?.id ?? null, 2);
      expect(last.map((m) => m.text)).toEqual(['m1']);
      expect(await store.history('bob', 'alice', null, 10)).toEqual([...first, ...second, ...last]);
      expect(await store.history('alice', 'dave', null, 10)).toEqual([]);
    });

    it('lists conversations most recent first, with the last message and the unread count above the ack', async () => {
      await store.append(msg('bob', 'alice', 'b1'));
      await store.append(msg('carol', 'alice', 'c1'));
      await store.append(msg('bob', 'alice', 'b2'));
      const mine = await store.append(msg('alice', 'dave', 'to dave'));
      expect(await store.conversations('alice')).toEqual([
        { peer: 'dave', lastMessage: mine.message, unread: 0 },
        expect.objectContaining({ peer: 'bob', unread: 2, lastMessage: expect.objectContaining({ text: 'b2' }) }),
        expect.objectContaining({ peer: 'carol', unread: 1, lastMessage: expect.objectContaining({ text: 'c1' }) }),
      ]);
      await store.ack('alice', 2); // b1, c1
      const after = await store.conversations('alice');
      expect(after.map((c) => [c.peer, c.unread])).toEqual([
        ['dave', 0],
        ['bob', 1],
        ['carol', 0],
      ]);
      expect(await store.conversations('carol')).toEqual([
        expect.objectContaining({ peer: 'alice', unread: 0, lastMessage: expect.objectContaining({ text: 'c1' }) }),
      ]);
    });

    it('keeps one conversation per peer in both directions, newest first, and a conversation with oneself once', async () => {
      await store.append(msg('alice', 'bob', 'a→b 1'));
      await store.append(msg('bob', 'alice', 'b→a 1'));
      await store.append(msg('alice', 'alice', 'note to self'));
      await store.append(msg('carol', 'alice', 'c→a'));
      const last = await store.append(msg('alice', 'bob', 'a→b 2'));
      expect((await store.conversations('alice')).map((c) => [c.peer, c.lastMessage.text, c.unread])).toEqual([
        ['bob', 'a→b 2', 1],
        ['carol', 'c→a', 1],
        ['alice', 'note to self', 1],
      ]);
      expect(await store.conversations('bob')).toEqual([{ peer: 'alice', lastMessage: last.message, unread: 2 }]);
      // A retried send stores nothing and changes no conversation.
      await store.append(msg('dave', 'carol', 'once', 'd-1'));
      await store.append(msg('dave', 'carol', 'once', 'd-1'));
      expect((await store.conversations('carol')).map((c) => [c.peer, c.lastMessage.text, c.unread])).toEqual([
        ['dave', 'once', 1],
        ['alice', 'c→a', 0],
      ]);
      await store.ack('alice', 3); // b→a 1, note to self, c→a
      expect((await store.conversations('alice')).map((c) => [c.peer, c.unread])).toEqual([
        ['bob', 0],
        ['carol', 0],
        ['alice', 0],
      ]);
    });

    it('keeps conversations right when two instances append in both directions of one pair at once', async () => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const [from, to] = i % 2 ? ['alice', 'bob'] : ['bob', 'alice'];
          return (i % 4 < 2 ? store : harness.second).append(msg(from as string, to as string, `m${i}`));
        }),
      );
      const newest = results.map((r) => r.message).reduce((a, b) => (Number(a.id) > Number(b.id) ? a : b));
      expect(await store.conversations('alice')).toEqual([{ peer: 'bob', lastMessage: newest, unread: 20 }]);
      expect(await harness.second.conversations('bob')).toEqual([{ peer: 'alice', lastMessage: newest, unread: 20 }]);
      await store.ack('bob', 15);
      expect((await store.conversations('bob'))[0]?.unread).toBe(5);
    });

    /** Each peer's unread count as today's definition has it: messages from the peer above the acked seq. */
    async function countedUnread(userId: string): Promise<Record<string, number>> {
      const acked = await store.ackedSeq(userId);
      const counts: Record<string, number> = {};
      for (const c of await store.conversations(userId)) counts[c.peer] = 0;
      for (const m of await store.readStream(userId, acked, 10_000)) counts[m.from] = (counts[m.from] ?? 0) + 1;
      return counts;
    }
    async function keptUnread(userId: string, from: Store = store): Promise<Record<string, number>> {
      return Object.fromEntries((await from.conversations(userId)).map((c) => [c.peer, c.unread]));
    }

    it('keeps unread exact when acks land in the middle of a burst of appends from two instances, beyond the head, or not moving', async () => {
      const senders = ['alice', 'carol', 'dave', 'bob'];
      // Acks issued between the appends, through both instances: some behind what is stored
      // (or what was acked), one beyond it.
      const acks = [3, 10, 7, 25, 500, 40];
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 80; i++) {
        work.push((i % 2 ? store : harness.second).append(msg(senders[i % 4] as string, 'bob', `m${i}`)));
        const upTo = i % 13 === 12 ? acks[Math.floor(i / 13)] : undefined;
        if (upTo !== undefined) work.push((i % 2 ? harness.second : store).ack('bob', upTo));
      }
      await Promise.all(work);
      const acked = await store.ackedSeq('bob');
      expect(acked).toBeGreaterThan(0);
      expect(await keptUnread('bob')).toEqual(await countedUnread('bob'));
      expect(await keptUnread('bob', harness.second)).toEqual(await countedUnread('bob'));

      // An ack that does not move (behind, or at, the acked seq) changes no count.
      const before = await keptUnread('bob');
      expect(await store.ack('bob', acked - 5)).toBe(acked);
      expect(await harness.second.ack('bob', acked)).toBe(acked);
      expect(await keptUnread('bob')).toEqual(before);

      // Beyond the head: everything is read, and nothing is counted below zero.
      expect(await store.ack('bob', 10_000)).toBe(80);
      expect(await keptUnread('bob')).toEqual({ alice: 0, carol: 0, dave: 0, bob: 0 });
      expect(await store.ack('bob', 10_001)).toBe(80);
      expect(await keptUnread('bob')).toEqual({ alice: 0, carol: 0, dave: 0, bob: 0 });
      // Appends after the head was acknowledged count from zero again.
      await harness.second.append(msg('carol', 'bob', 'later'));
      expect(await keptUnread('bob')).toEqual({ alice: 0, carol: 1, dave: 0, bob: 0 });
      // Bob's own messages to others are read in his view and unread in theirs.
      expect(await keptUnread('alice')).toEqual({ bob: 0 });
    });

    it('keeps unread exact when two instances append in both directions and ack both users at once', async () => {
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 60; i++) {
        const [from, to] = i % 3 ? ['alice', 'bob'] : ['bob', 'alice'];
        const instance = i % 2 ? store : harness.second;
        work.push(instance.append(msg(from as string, to as string, `m${i}`)));
        if (i % 10 === 9) work.push(instance.ack('bob', Math.floor(i / 2)), (i % 4 ? harness.second : store).ack('alice', Math.floor(i / 4)));
      }
      await Promise.all(work);
      for (const user of ['alice', 'bob']) expect(await keptUnread(user)).toEqual(await countedUnread(user));
      expect((await keptUnread('bob')).alice).toBeGreaterThan(0);
    });

    it('counts messages to oneself as unread in the conversation with oneself until they are acknowledged', async () => {
      await store.append(msg('alice', 'alice', 'self 1')); // alice seq 1
      await store.append(msg('bob', 'alice', 'from bob')); // 2
      await harness.second.append(msg('alice', 'alice', 'self 2')); // 3
      await store.append(msg('alice', 'alice', 'self 3')); // 4
      await store.append(msg('alice', 'bob', 'to bob'));
      expect(await keptUnread('alice')).toEqual({ alice: 3, bob: 1 });
      expect(await keptUnread('bob')).toEqual({ alice: 1 });
      await store.ack('alice', 3);
      expect(await keptUnread('alice')).toEqual({ alice: 1, bob: 0 });
      await harness.second.ack('alice', 4);
      expect(await keptUnread('alice')).toEqual({ alice: 0, bob: 0 });
      expect(await keptUnread('alice')).toEqual(await countedUnread('alice'));
    });

    it('builds conversations for the messages stored before the summary existed (schema version 1)', async () => {
      const pairs = [
        ['bob', 'alice'],
        ['alice', 'carol'],
        ['carol', 'alice'],
        ['bob', 'alice'],
        ['alice', 'alice'],
        ['dave', 'bob'],
        ['carol', 'alice'],
      ] as const;
      const heads = new Map<string, number>();
      const messages = pairs.map(([from, to], i) => {
        const seq = (heads.get(to) ?? 0) + 1;
        heads.set(to, seq);
        return { from, to, seq, text: `old ${i}`, sentAt: 1_700_000_000_000 + i };
      });
      const users = ['alice', 'bob', 'carol', 'dave'].map((id) => ({
        id,
        headSeq: heads.get(id) ?? 0,
        // alice has read her first two messages (old 0, old 2).
        ackedSeq: id === 'alice' ? 2 : 0,
      }));
      const migrated = await harness.openVersion1({ users, messages });
      const summary = (userId: string) =>
        migrated.conversations(userId).then((list) => list.map((c) => [c.peer, c.lastMessage.text, c.unread]));
      expect(await summary('alice')).toEqual([
        ['carol', 'old 6', 1],
        ['alice', 'old 4', 1],
        ['bob', 'old 3', 1],
      ]);
      expect(await summary('bob')).toEqual([
        ['dave', 'old 5', 1],
        ['alice', 'old 3', 0],
      ]);
      expect((await migrated.conversations('carol'))[0]).toMatchObject({
        peer: 'alice',
        unread: 1,
        lastMessage: { text: 'old 6', from: 'carol', to: 'alice', seq: 5, sentAt: new Date(1_700_000_000_006) },
      });
      // Appends and acks after the migration keep the summary going: alice's seqs 3 (old 3)
      // and 4 (old 4, to herself) are read now, 5 (old 6) and 6 (new) are not.
      await migrated.append(msg('bob', 'alice', 'new'));
      expect((await summary('alice'))[0]).toEqual(['bob', 'new', 2]);
      expect(await migrated.ack('alice', 4)).toBe(4);
      expect(await summary('alice')).toEqual([
        ['bob', 'new', 1],
        ['carol', 'old 6', 1],
        ['alice', 'old 4', 0],
      ]);
    });

    it('creates a user once: createUser refuses a known id, and ensureUser keeps the existing password hash', async () => {
      expect(await store.createUser('erin', 'hash')).toBe(true);
      expect(await store.createUser('erin', 'other')).toBe(false);
      await store.ensureUser('erin');
      expect(await store.getUser('erin')).toEqual({ userId: 'erin', passwordHash: 'hash' });
      expect(await store.getUser('alice')).toEqual({ userId: 'alice', passwordHash: null });
      expect(await store.getUser('nobody')).toBeNull();
    });

    it('answers ping while it is up', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
