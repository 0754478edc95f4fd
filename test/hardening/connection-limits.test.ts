import { describe, expect, it, vi } from 'vitest';
import { createParleyClient, ParleyConnectionClosedError, TRPCClientError, type AppRouter } from '@parley/sdk';
import { recordingWebSocket } from '../helpers/recording-ws.js';
import { startServer } from '../helpers/server.js';
import { closedWithin, isClose, openRaw, type RawConnection } from '../helpers/raw-ws.js';
import { collect } from '../helpers/collect.js';
import { metric } from '../helpers/metrics.js';

async function whoAmI(c: RawConnection): Promise<unknown> {
  const reply = await c.call('query', 'me');
  return isClose(reply) ? reply : (reply.result?.data?.json ?? reply.error?.json?.data?.code);
}

describe('connection and subscription limits', () => {
  it('refuses a user’s connection over maxConnectionsPerUser with the terminal code 4408, and the SDK stops', async () => {
    await using t = await startServer({ maxConnectionsPerUser: 2 });
    const first = await openRaw(t.url, { token: await t.token('alice') });
    const second = await openRaw(t.url, { token: await t.token('alice') });
    expect([await whoAmI(first), await whoAmI(second)]).toEqual([{ userId: 'alice' }, { userId: 'alice' }]);
    // Another user is not affected by alice's count.
    expect(await whoAmI(await openRaw(t.url, { token: await t.token('bob') }))).toEqual({ userId: 'bob' });

    const closedWith: ParleyConnectionClosedError[] = [];
    const sockets = recordingWebSocket();
    const third = createParleyClient({
      url: t.url,
      token: await t.token('alice'),
      WebSocket: sockets.WebSocket,
      onClosed: (error) => closedWith.push(error),
    });
    try {
      const refused = await third.me.query().catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(TRPCClientError);
      expect((refused as TRPCClientError<AppRouter>).cause).toMatchObject({
        name: 'ParleyConnectionClosedError',
        code: 4408,
        reason: 'too many connections for this user',
      });
      expect(third.connectionState).toBe('closed');
      expect(closedWith).toEqual([(refused as TRPCClientError<AppRouter>).cause]);
      expect(closedWith[0]).toBeInstanceOf(ParleyConnectionClosedError);
      // It stopped: no retry opened another socket, and later calls fail without one.
      await expect(third.sendToUser.mutate({ to: 'bob', text: 'x' })).rejects.toMatchObject({ cause: { code: 4408 } });
      expect(sockets.record).toEqual({ opened: 1, closeCodes: [4408] });
      expect(closedWith).toHaveLength(1);
      expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'user_limit' })).toBe(1);
    } finally {
      await third.close();
    }

    // A freed slot can be used again.
    await first.close();
    const again = await openRaw(t.url, { token: await t.token('alice') });
    await vi.waitFor(async () => expect(await whoAmI(again)).toEqual({ userId: 'alice' }));
    expect(again.isOpen()).toBe(true);
  });

  it('refuses a connection over maxConnectionsPerIp with 4408 before authentication', async () => {
    await using t = await startServer({ maxConnectionsPerIp: 3 });
    const open = [
      await openRaw(t.url, { token: await t.token('alice') }),
      await openRaw(t.url, { token: await t.token('bob') }),
      await openRaw(t.url, { connectionParams: true }), // not even authenticated: it still counts
    ];
    const refused = await openRaw(t.url, { connectionParams: true });
    expect(await closedWithin(refused, 3000)).toEqual({ code: 4408, reason: 'too many connections from this address' });
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'ip_limit' })).toBe(1);
    expect(await whoAmI(open[0] as RawConnection)).toEqual({ userId: 'alice' });

    await (open[2] as RawConnection).close();
    await vi.waitFor(async () => {
      const next = await openRaw(t.url, { token: await t.token('carol') });
      expect(await whoAmI(next)).toEqual({ userId: 'carol' });
    });
  });

  it('refuses a subscription over maxSubscriptionsPerConnection with TOO_MANY_REQUESTS; the others keep delivering', async () => {
    await using t = await startServer({ maxSubscriptionsPerConnection: 2 });
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const a = collect(bob);
    const b = collect(bob);
    await vi.waitFor(async () => expect(await metric(t.url, 'parley_subscriptions')).toBe(2));
    const over = collect(bob);
    await vi.waitFor(() => expect(over.errors).toHaveLength(1));
    expect(over.errors[0]).toMatchObject({ data: { code: 'TOO_MANY_REQUESTS' } });
    expect(await metric(t.url, 'parley_rate_limited_total', { procedure: 'onMessage' })).toBe(1);

    await alice.sendToUser.mutate({ to: 'bob', text: 'one' });
    await vi.waitFor(() => expect([a.texts(), b.texts()]).toEqual([['one'], ['one']]));
    expect(over.texts()).toEqual([]);

    // Ending one frees its place on the connection.
    a.unsubscribe();
    await vi.waitFor(async () => expect(await metric(t.url, 'parley_subscriptions')).toBe(1));
    const replacement = collect(bob, { lastEventId: '0' });
    await vi.waitFor(() => expect(replacement.texts()).toEqual(['one']));
    expect(replacement.errors).toEqual([]);
  });

  it('counts the subscription cap per connection: a raw client cannot exceed it with one batch frame, and a refused subscription never gets started', async () => {
    await using t = await startServer({ maxSubscriptionsPerConnection: 3 });
    const c = await openRaw(t.url, { token: await t.token('bob') });
    const batch = Array.from({ length: 50 }, (_, i) => ({
      id: i + 1,
      method: 'subscription',
      params: { path: 'onMessage', input: { json: {} } },
    }));
    c.send(batch);
    await vi.waitFor(() => expect(c.frames.length).toBeGreaterThanOrEqual(50));
    const replies = c.frames as Array<{ id: number; result?: { type: string }; error?: { json: { data: { code: string } } } }>;
    const started = replies.filter((r) => r.result?.type === 'started').map((r) => r.id);
    const refused = replies.filter((r) => r.error?.json.data.code === 'TOO_MANY_REQUESTS').map((r) => r.id);
    expect(started).toHaveLength(3);
    expect(refused).toHaveLength(47);
    expect(await metric(t.url, 'parley_subscriptions')).toBe(3);
    // The error is all a refused subscription gets: no 'started' before it, no 'stopped' after.
    await c.call('query', 'me');
    expect(replies.filter((r) => refused.includes(r.id))).toHaveLength(47);
    expect(refused.filter((id) => started.includes(id))).toEqual([]);
    await c.close();
  });
});
