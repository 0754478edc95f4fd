/**
 * A node on PostgreSQL and Redis while one of them is down: readiness says so, sends fail
 * fast with a retryable error instead of hanging, and nothing is lost or doubled once
 * the service is back.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createParleyClient, type Message } from '@parley/sdk';
import { createServer, defaultConfig, type ParleyServer } from '../server/index.js';
import { createLogger } from '../server/log.js';
import { PostgresStore } from '../server/store/postgres-store.js';
import { RedisBus } from '../server/bus/redis-bus.js';
import type { Store } from '../server/store/store.js';
import type { Bus } from '../server/bus/bus.js';
import { signToken, tempDir, testSecret } from './helpers/server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { startStallingProxy } from './helpers/stalling-proxy.js';
import { createTestSchema, postgresAvailable, postgresTcpTarget, type TestSchema } from './helpers/postgres.js';
import { redisAvailable, redisTcpTarget, uniquePrefix } from './helpers/redis.js';

const log = createLogger('silent');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    // Every cleanup runs, even after one fails, so no schema is left behind.
    await cleanup().catch((error: unknown) => errors.push(error));
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
});

async function startNode(options: { store?: Store; bus?: Bus }): Promise<ParleyServer> {
  const dataDir = tempDir();
  const server = await createServer(defaultConfig({ port: 0, dataDir, jwtSecret: testSecret }), { ...options, log });
  cleanups.push(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

async function readyStatus(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

/** sendToUser over plain HTTP, to see the wire's answer without the SDK's retries. */
async function rawSend(url: string, from: string, input: { to: string; text: string }) {
  const res = await fetch(`${url}/trpc/sendToUser`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(from)}` },
    body: JSON.stringify({ json: input }),
  });
  const body = (await res.json()) as { error?: { json?: { data?: { code?: string } } } };
  return { status: res.status, code: body.error?.json?.data?.code ?? null };
}

/** The schema's connection string, pointed at `port` on loopback (a proxy in front of PostgreSQL). */
function viaPort(schema: TestSchema, port: string | number): string {
  const url = new URL(schema.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

async function testSchema(): Promise<TestSchema> {
  const schema = await createTestSchema('outage');
  cleanups.push(() => schema.drop());
  return schema;
}

const postgresUp = await postgresAvailable();
const redisUp = await redisAvailable();

if (postgresUp) {
  describe('a node whose PostgreSQL is down', () => {
    it('is not ready and fails sendToUser fast with SERVICE_UNAVAILABLE while connections are refused, and recovers', async () => {
      const schema = await testSchema();
      const proxy = await startTcpProxy(postgresTcpTarget());
      cleanups.push(() => proxy.close());
      const store = await PostgresStore.open(viaPort(schema, new URL(proxy.url).port), { log });
      const node = await startNode({ store });
      expect(await rawSend(node.url, 'alice', { to: 'alice', text: 'makes alice known' })).toEqual({ status: 200, code: null });
      expect(await readyStatus(node.url)).toBe(200);

      await proxy.cut();
      expect(await readyStatus(node.url)).toBe(503);
      const started = Date.now();
      expect(await rawSend(node.url, 'alice', { to: 'alice', text: 'while down' })).toEqual({
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
      });
      expect(Date.now() - started).toBeLessThan(1000);

      await proxy.resume();
      await vi.waitFor(async () => expect(await readyStatus(node.url)).toBe(200), 10_000);
      expect(await rawSend(node.url, 'alice', { to: 'alice', text: 'back' })).toEqual({ status: 200, code: null });
    });

    it('fails sendToUser within its timeouts with SERVICE_UNAVAILABLE when PostgreSQL stops answering', async () => {
      const schema = await testSchema();
      const target = new URL(postgresTcpTarget());
      const proxy = await startStallingProxy(target.hostname, Number(target.port));
      cleanups.push(() => proxy.close());
      const store = await PostgresStore.open(viaPort(schema, proxy.port), {
        log,
        connectTimeoutMs: 300,
        statementTimeoutMs: 300,
      });
      const node = await startNode({ store });
      expect((await rawSend(node.url, 'alice', { to: 'alice', text: 'known' })).status).toBe(200);

      proxy.stall();
      const started = Date.now();
      expect(await rawSend(node.url, 'alice', { to: 'alice', text: 'into the void' })).toEqual({
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
      });
      // The client-side reply timeout is the statement timeout + 1 s.
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await readyStatus(node.url)).toBe(503);
    });

    it('stores and delivers exactly once a send the SDK retries through the outage', async () => {
      const schema = await testSchema();
      const proxy = await startTcpProxy(postgresTcpTarget());
      cleanups.push(() => proxy.close());
      const store = await PostgresStore.open(viaPort(schema, new URL(proxy.url).port), { log });
      let failedAppends = 0;
      // The store as the node sees it, counting failed appends so the test knows when the outage bit.
      const observed = new Proxy(store, {
        get(target, prop) {
          if (prop === 'append') {
            return (m: Parameters<Store['append']>[0]) =>
              target.append(m).catch((error: unknown) => {
                failedAppends++;
                throw error;
              });
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const node = await startNode({ store: observed });
      const alice = createParleyClient({ url: node.url, token: await signToken('alice') });
      const bob = createParleyClient({ url: node.url, token: await signToken('bob') });
      cleanups.push(async () => {
        await alice.close();
        await bob.close();
      });
      await Promise.all([alice.me.query(), bob.me.query()]);
      const inbox: Message[] = [];
      bob.onMessage.subscribe({}, { onData: ({ data }) => inbox.push(data) });
      await alice.sendToUser.mutate({ to: 'bob', text: 'before' });
      await vi.waitFor(() => expect(inbox).toHaveLength(1));

      await proxy.cut();
      const sending = alice.sendToUser.mutate({ to: 'bob', text: 'through the outage' });
      await vi.waitFor(() => expect(failedAppends).toBeGreaterThan(0), 5000);
      await proxy.resume();
      const sent = await sending;

      await vi.waitFor(() => expect(inbox.map((m) => m.text)).toEqual(['before', 'through the outage']), 10_000);
      expect(inbox[1]).toEqual(sent);
      expect((await store.readStream('bob', 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    });
  });
}

if (redisUp) {
  describe('a node whose Redis is down', () => {
    it('is not ready while Redis is unreachable, still stores sends, and delivers them once Redis is back', async () => {
      const proxy = await startTcpProxy(redisTcpTarget());
      cleanups.push(() => proxy.close());
      const bus = new RedisBus({ url: `redis://127.0.0.1:${new URL(proxy.url).port}`, prefix: uniquePrefix('outage'), log });
      const node = await startNode({ bus });
      const alice = createParleyClient({ url: node.url, token: await signToken('alice') });
      const bob = createParleyClient({ url: node.url, token: await signToken('bob') });
      cleanups.push(async () => {
        await alice.close();
        await bob.close();
      });
      await Promise.all([alice.me.query(), bob.me.query()]);
      await vi.waitFor(async () => expect(await readyStatus(node.url)).toBe(200));
      const inbox: Message[] = [];
      bob.onMessage.subscribe({}, { onData: ({ data }) => inbox.push(data) });
      await alice.sendToUser.mutate({ to: 'bob', text: 'probe' });
      await vi.waitFor(() => expect(inbox).toHaveLength(1));

      await proxy.cut();
      expect(await readyStatus(node.url)).toBe(503);
      const whileDown = await alice.sendToUser.mutate({ to: 'bob', text: 'while Redis is down' });
      expect(whileDown.seq).toBe(2);

      await proxy.resume();
      await vi.waitFor(() => expect(inbox.map((m) => m.text)).toEqual(['probe', 'while Redis is down']), 10_000);
      await vi.waitFor(async () => expect(await readyStatus(node.url)).toBe(200), 10_000);
    });
  });
}

if (!postgresUp || !redisUp) {
  describe.skip('outages: PostgreSQL or Redis not reachable', () => {});
}
