import { describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../server/bus/memory-bus.js';
import { startServer } from '../helpers/server.js';
import { closedWithin, isClose, openRaw } from '../helpers/raw-ws.js';
import { metric } from '../helpers/metrics.js';

describe('dead peers', () => {
  it('closes a socket that never sends its connectionParams after authTimeout, with 4004', async () => {
    await using t = await startServer({ authTimeoutMs: 300 });
    const openedAt = Date.now();
    const silent = await openRaw(t.url, { connectionParams: true });
    expect(await closedWithin(silent, 3000)).toEqual({ code: 4004, reason: 'no connectionParams in time' });
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(250);
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'auth_timeout' })).toBe(1);
    await vi.waitFor(async () => expect(await metric(t.url, 'parley_connections')).toBe(0));
  });

  it('closes a socket that sends connectionParams without a token, after authTimeout, with 4004', async () => {
    await using t = await startServer({ authTimeoutMs: 300 });
    const anonymous = await openRaw(t.url, { token: undefined });
    const reply = await anonymous.call('query', 'me');
    expect(isClose(reply) ? reply : reply.error?.json?.data?.code).toBe('UNAUTHORIZED');
    expect((await closedWithin(anonymous, 3000)).code).toBe(4004);
  });

  it('closes a socket that opens without connectionParams and never presents a token, after authTimeout', async () => {
    await using t = await startServer({ authTimeoutMs: 300 });
    const anonymous = await openRaw(t.url, { connectionParams: false });
    expect((await closedWithin(anonymous, 3000)).code).toBe(4004);
  });

  it('keeps a socket that sent its connectionParams in time open past the deadline', async () => {
    await using t = await startServer({ authTimeoutMs: 200 });
    const timely = await openRaw(t.url, { token: await t.token('alice') });
    const deadlineClose = timely.closed.then(() => 'closed');
    const passed = new Promise((resolve) => setTimeout(resolve, 600, 'open'));
    expect(await Promise.race([deadlineClose, passed])).toBe('open');
    const reply = await timely.call('query', 'me');
    expect(isClose(reply) ? reply : reply.result?.data?.json).toEqual({ userId: 'alice' });
    await timely.close();
  });

  it('terminates a peer that stops answering pings and releases its subscription and bus listener', async () => {
    const bus = new MemoryBus();
    // Not much smaller: the server and the live peer share this process, and a busy event loop delays the pong.
    await using t = await startServer({ heartbeatMs: 250 }, { bus });
    const live = await openRaw(t.url, { token: await t.token('alice') });
    const dead = await openRaw(t.url, { token: await t.token('bob'), autoPong: false });
    for (const c of [live, dead]) expect((await c.subscribe('onMessage')).reply).toMatchObject({ result: { type: 'started' } });
    await vi.waitFor(() => expect(bus.subscribedUsers).toBe(2));
    let livePings = 0;
    live.ws.on('ping', () => livePings++);

    // No close frame: the server drops the connection (1006 on this side).
    expect((await closedWithin(dead, 3000)).code).toBe(1006);
    await vi.waitFor(async () => {
      expect(await metric(t.url, 'parley_subscriptions')).toBe(1);
      expect(await metric(t.url, 'parley_connections')).toBe(1);
      expect(bus.subscribedUsers).toBe(1);
    });
    // The peer that answers keeps its socket through several more pings.
    await vi.waitFor(() => expect(livePings).toBeGreaterThanOrEqual(3), { timeout: 5_000 });
    expect(live.isOpen()).toBe(true);
    await live.close();
    await vi.waitFor(() => expect(bus.subscribedUsers).toBe(0));
  });
});
