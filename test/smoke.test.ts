import { describe, expect, it, vi } from 'vitest';
import { startServer } from './helpers/server.js';
import type { Message } from '@parley/sdk';

describe('smoke', () => {
  it('delivers live', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    await bob.me.query();
    await alice.me.query();
    const got: Message[] = [];
    bob.onMessage.subscribe({}, { onData: ({ data }) => got.push(data) });
    await vi.waitFor(() => expect(bob.connectionState).toBe('connected'));
    const sent = await alice.sendToUser.mutate({ to: 'bob', text: 'hi' });
    await vi.waitFor(() => expect(got).toHaveLength(1));
    expect(got[0]?.sentAt).toBeInstanceOf(Date);
    expect(got[0]).toEqual(sent);
  });
});
