import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { openRaw, type RawReply } from '../helpers/raw-ws.js';

describe('a resume cursor past the end of the stream', () => {
  it(`is refused with BAD_REQUEST before 'started' instead of silently waiting forever for messages`, async () => {
    await using t = await startServer({ sendRateLimit: null });
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    for (let i = 1; i <= 5; i++) await alice.sendToUser.mutate({ to: 'bob', text: `m${i}` });

    // As a client whose server lost its data would resume: from a seq the stream never reached.
    const stale = collect(bob, { lastEventId: '1000' });
    await vi.waitFor(() => expect(stale.errors).toHaveLength(1));
    expect(stale.errors[0]).toMatchObject({
      message:
        "lastEventId 1000 is past the end of your stream (5): the server's data was reset; resubscribe without lastEventId",
      data: { code: 'BAD_REQUEST' },
    });

    // What the wire shows: the error alone, no 'started', no 'stopped'.
    const raw = await openRaw(t.url, { token: await t.token('bob') });
    const { id, reply } = await raw.subscribe('onMessage', { lastEventId: '6' });
    expect((reply as RawReply).error?.json?.data?.code).toBe('BAD_REQUEST');
    await raw.call('query', 'me');
    expect(raw.frames.filter((f) => (f as RawReply).id === id)).toHaveLength(1);

    // The head itself is a valid cursor, and a fresh subscription gets everything.
    const atHead = collect(bob, { lastEventId: '5' });
    const fresh = collect(bob, { lastEventId: null });
    await alice.sendToUser.mutate({ to: 'bob', text: 'm6' });
    await vi.waitFor(() => expect(atHead.texts()).toEqual(['m6']));
    await vi.waitFor(() => expect(fresh.texts()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']));
    expect([atHead.errors, fresh.errors, stale.errors.length]).toEqual([[], [], 1]);
    await raw.close();
  });
});
