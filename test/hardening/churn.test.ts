import { describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../server/bus/memory-bus.js';
import { startServer } from '../helpers/server.js';
import { openRaw } from '../helpers/raw-ws.js';
import { metric } from '../helpers/metrics.js';

const cycles = 1000;
const concurrency = 10;
const users = ['u0', 'u1', 'u2', 'u3', 'u4'];

/** Timers and sockets that keep this process alive (the in-process server's included). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

describe('connection churn', () => {
  it(`${cycles} connect/subscribe/disconnect cycles leave no connection, subscription, bus listener or timer behind`, async () => {
    const bus = new MemoryBus();
    // Caps far below the number of cycles: a slot never given back would refuse later cycles.
    await using t = await startServer(
      { maxConnectionsPerIp: concurrency * 2, maxConnectionsPerUser: concurrency, sendRateLimit: null },
      { bus },
    );
    const tokens = await Promise.all(users.map((u) => t.token(u)));
    for (const u of users) await (await t.http(u)).me.query(); // known, so they can be sent to
    const alice = await t.client('alice');
    await Promise.all(users.map((to) => alice.sendToUser.mutate({ to, text: `hello ${to}` })));
    const baseline = activeResources();

    const ways = ['close', 'terminate', 'stop then close'] as const;
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < cycles) {
        const i = next++;
        const c = await openRaw(t.url, { token: tokens[i % users.length] });
        const { id, reply } = await c.subscribe('onMessage', { lastEventId: '0' });
        if (!('result' in reply) || reply.result?.type !== 'started') failures.push(`cycle ${i}: ${JSON.stringify(reply)}`);
        const way = ways[i % ways.length];
        if (way === 'terminate') c.ws.terminate();
        if (way === 'stop then close') c.send({ id, method: 'subscription.stop' });
        await c.close();
      }
    };
    const startedAt = Date.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = Date.now() - startedAt;
    expect(failures).toEqual([]);

    await vi.waitFor(async () => {
      expect(await metric(t.url, 'parley_connections')).toBe(1); // alice's
      expect(await metric(t.url, 'parley_subscriptions')).toBe(0);
      expect(bus.subscribedUsers).toBe(0);
    });
    await vi.waitFor(() => {
      const now = activeResources();
      // Slack for this test's own timers (vi.waitFor) and pooled HTTP sockets (the scrapes); one left per cycle would be ~1000.
      expect(now['Timeout'] ?? 0).toBeLessThanOrEqual((baseline['Timeout'] ?? 0) + 5);
      expect(now['TCPSocketWrap'] ?? 0).toBeLessThanOrEqual((baseline['TCPSocketWrap'] ?? 0) + 10);
    });
    // A few hundred ms per 100 cycles is the budget; allow for a loaded machine.
    expect(elapsed).toBeLessThan(cycles * 20);
  });
});
