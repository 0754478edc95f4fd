import { describe, expect, it, vi } from 'vitest';
import { RedisBus } from '../server/bus/redis-bus.js';
import type { BusEvent } from '../server/bus/bus.js';
import { createLogger } from '../server/log.js';
import { describeBusContract, message } from './contracts/bus.contract.js';
import {
  adminRedis,
  killRedisClients,
  redisAvailable,
  redisTcpTarget,
  testRedisUrl,
  uniquePrefix,
} from './helpers/redis.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const log = createLogger('silent');

if (await redisAvailable()) {
  describeBusContract('RedisBus', { announcesLive: true }, async () => {
    // Two nodes of one deployment: same prefix, so they share channels.
    const prefix = uniquePrefix('bus');
    const bus = new RedisBus({ url: testRedisUrl, prefix, log });
    const peer = new RedisBus({ url: testRedisUrl, prefix, log });
    return {
      bus,
      peer,
      // Only `bus`'s subscriber: the peer's subscriber shares the name prefix but not its suffix.
      dropConnections: async () => {
        expect(await killRedisClients(`${prefix}sub`)).toBe(2);
      },
      dispose: async () => {
        await Promise.all([bus.close(), peer.close()]);
      },
    };
  });

  describe('RedisBus', () => {
    it('unsubscribes the node from a user’s channel when the user’s last local listener leaves', async () => {
      const prefix = uniquePrefix('bus');
      const bus = new RedisBus({ url: testRedisUrl, prefix, log });
      const admin = adminRedis();
      await admin.connect();
      try {
        const subscribers = async () => {
          const reply = (await admin.pubsub('NUMSUB', `${prefix}user:bob`)) as [string, number];
          return Number(reply[1]);
        };
        const live: BusEvent[] = [];
        const first = bus.subscribe('bob', (e) => live.push(e));
        const second = bus.subscribe('bob', () => {});
        await vi.waitFor(() => expect(live).toContainEqual({ kind: 'resync' }));
        expect(await subscribers()).toBe(1);
        first();
        expect(await subscribers()).toBe(1);
        second();
        await vi.waitFor(async () => expect(await subscribers()).toBe(0));
      } finally {
        admin.disconnect();
        await bus.close();
      }
    });

    it('never rejects a publish while Redis is unreachable, and makes the other nodes resync once it is back', async () => {
      const prefix = uniquePrefix('bus');
      const proxy = await startTcpProxy(redisTcpTarget());
      const cutOff = new RedisBus({
        url: `redis://127.0.0.1:${new URL(proxy.url).port}`,
        prefix,
        log,
        commandTimeoutMs: 500,
      });
      const other = new RedisBus({ url: testRedisUrl, prefix, log });
      try {
        const events: BusEvent[] = [];
        other.subscribe('bob', (e) => events.push(e));
        await vi.waitFor(() => expect(events).toEqual([{ kind: 'resync' }]));
        await vi.waitFor(() => cutOff.ping());

        await proxy.cut();
        await expect(cutOff.ping()).rejects.toThrow();
        const started = Date.now();
        await expect(cutOff.publish(message('bob', 'lost doorbell'))).resolves.toBeUndefined();
        expect(Date.now() - started).toBeLessThan(2000);
        expect(events).toEqual([{ kind: 'resync' }]);

        await proxy.resume();
        await vi.waitFor(() => expect(events).toEqual([{ kind: 'resync' }, { kind: 'resync' }]), 10_000);
        await vi.waitFor(() => cutOff.ping(), 10_000);
      } finally {
        await Promise.all([cutOff.close(), other.close()]);
        await proxy.close();
      }
    });

    it('turns an unreadable event on a user’s channel into a resync for that user’s listeners', async () => {
      const prefix = uniquePrefix('bus');
      const bus = new RedisBus({ url: testRedisUrl, prefix, log });
      const admin = adminRedis();
      await admin.connect();
      try {
        const events: BusEvent[] = [];
        bus.subscribe('bob', (e) => events.push(e));
        await vi.waitFor(() => expect(events).toEqual([{ kind: 'resync' }]));
        await admin.publish(`${prefix}user:bob`, 'not superjson');
        await vi.waitFor(() => expect(events).toEqual([{ kind: 'resync' }, { kind: 'resync' }]));
      } finally {
        admin.disconnect();
        await bus.close();
      }
    });

    it('reports ping failures fast while Redis is unreachable', async () => {
      const proxy = await startTcpProxy(redisTcpTarget());
      await proxy.cut();
      const bus = new RedisBus({ url: `redis://127.0.0.1:${new URL(proxy.url).port}`, prefix: uniquePrefix('bus'), log });
      try {
        const started = Date.now();
        await expect(bus.ping()).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(1000);
      } finally {
        await bus.close();
        await proxy.close();
      }
    });
  });
} else {
  describe.skip('RedisBus: Redis not reachable', () => {});
}
