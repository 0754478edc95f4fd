/**
 * Redis for tests: a unique channel prefix per bus, so runs sharing one Redis never hear
 * each other, and a way to kill exactly one run's connections.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { serviceAvailable } from './services.js';

/** Override with PARLEY_TEST_REDIS_URL. */
export const testRedisUrl = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Redis's address as `http://host:port`, the form the TCP proxies take. */
export function redisTcpTarget(): string {
  const url = new URL(testRedisUrl);
  return `http://${url.hostname}:${url.port || '6379'}`;
}

/** A connection for the test itself; fails at once instead of retrying. */
export function adminRedis(): Redis {
  const redis = new Redis(testRedisUrl, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  // Failures reach the caller as rejected commands; unheard, ioredis would print them too.
  redis.on('error', () => {});
  return redis;
}

export function redisAvailable(): Promise<boolean> {
  return serviceAvailable(`Redis at ${new URL(testRedisUrl).host}`, async () => {
    const redis = adminRedis();
    let cause: Error | null = null;
    redis.on('error', (error: Error) => (cause = error));
    try {
      await redis.connect();
      await redis.ping();
    } catch (error) {
      // "Connection is closed" says less than the socket error behind it.
      throw cause ?? error;
    } finally {
      redis.disconnect();
    }
  });
}

export function uniquePrefix(label: string): string {
  return `parley-test:${label}:${randomBytes(5).toString('hex')}:`;
}

/**
 * Kills the Redis connections whose name starts with `namePrefix` (a bus names its
 * connections `<prefix>pub` and `<prefix>sub`); resolves how many were killed.
 */
export async function killRedisClients(namePrefix: string): Promise<number> {
  const redis = adminRedis();
  try {
    await redis.connect();
    const list = (await redis.client('LIST')) as string;
    const ids = list
      .split('\n')
      .map((line) => Object.fromEntries(line.split(' ').map((field) => field.split('=', 2))) as Record<string, string>)
      .filter((client) => client['name']?.startsWith(namePrefix))
      .map((client) => client['id'] as string);
    for (const id of ids) await redis.client('KILL', 'ID', id);
    return ids.length;
  } finally {
    redis.disconnect();
  }
}
