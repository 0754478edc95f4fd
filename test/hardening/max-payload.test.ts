import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../helpers/server.js';
import { isClose, openRaw } from '../helpers/raw-ws.js';
import { collect } from '../helpers/collect.js';
import { metric } from '../helpers/metrics.js';

describe('maxPayload', () => {
  it('closes a socket that sends a frame over maxPayload with 1009, and no other socket', async () => {
    await using t = await startServer({ maxPayloadBytes: 4096 });
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const inbox = collect(bob);
    const mallory = await openRaw(t.url, { token: await t.token('mallory') });
    await vi.waitFor(async () => expect(await metric(t.url, 'parley_connections')).toBe(3));

    // A frame just under the limit is an ordinary call.
    const near = await mallory.call('mutation', 'sendToUser', { to: 'bob', text: 'n'.repeat(3900) });
    expect(isClose(near) ? near : near.result?.type).toBe('data');

    mallory.send(Buffer.alloc(4097, 'x').toString());
    expect((await mallory.closed).code).toBe(1009);

    await alice.sendToUser.mutate({ to: 'bob', text: 'still here' });
    await vi.waitFor(() => expect(inbox.texts()).toEqual(['n'.repeat(3900), 'still here']));
    expect(await metric(t.url, 'parley_connections')).toBe(2);
  });

  it('closes a socket whose binary frame is over maxPayload with 1009', async () => {
    await using t = await startServer({ maxPayloadBytes: 4096 });
    const mallory = await openRaw(t.url, { token: await t.token('mallory') });
    mallory.send(Buffer.alloc(64 * 1024));
    expect((await mallory.closed).code).toBe(1009);
  });
});
