/**
 * Starts real Parley servers on port 0 with a fresh data dir, and makes clients for them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { createServer, defaultConfig, type Config, type ParleyServer, type ServerOptions } from '../../server/index.js';
import { createLogger } from '../../server/log.js';
import { testBackend } from './scale-out-backend.js';
import { createParleyClient, createParleyHttpClient, type ParleyClient } from '@parley/sdk';

export const testSecret = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export function tempDir(prefix = 'parley-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestServer {
  server: ParleyServer;
  url: string;
  dataDir: string;
  config: Config;
  /** A token for `userId` signed with the server's secret. */
  token(userId: string, ttlSeconds?: number): Promise<string>;
  /** A WebSocket client for `userId`, already known to the server (closed by `close()`). */
  client(userId: string, options?: { url?: string }): Promise<ParleyClient>;
  http(userId?: string): Promise<ReturnType<typeof createParleyHttpClient>>;
  /** Stops the server; the data dir is kept (restart tests reuse it). */
  stop(): Promise<void>;
  /** Closes the clients and the server and removes the data dir. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function signToken(userId: string, ttlSeconds = 3600, secret = testSecret): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

/** `options`: a store or bus the test holds (e.g. a `MemoryBus` whose listeners it checks). */
export async function startServer(overrides: Partial<Config> = {}, options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? tempDir();
  const backend = await testBackend(dataDir);
  // Tests read /metrics right after what they count: no cached renders unless a test asks.
  const config = defaultConfig({
    port: 0,
    dataDir,
    jwtSecret: testSecret,
    metricsMaxAgeMs: 0,
    ...backend.config,
    ...overrides,
  });
  const server = await createServer(config, { log: createLogger('silent'), ...options });
  const clients: ParleyClient[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  };
  const close = async () => {
    await stop();
    if (!overrides.dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
      await backend.drop();
    }
  };
  return {
    server,
    url: server.url,
    dataDir,
    config,
    token: (userId, ttl) => signToken(userId, ttl, config.jwtSecret),
    async client(userId, options = {}) {
      const token = await signToken(userId, 3600, config.jwtSecret);
      const client = createParleyClient({ url: options.url ?? server.url, token });
      clients.push(client);
      await client.me.query();
      return client;
    },
    async http(userId) {
      const token = userId === undefined ? undefined : await signToken(userId, 3600, config.jwtSecret);
      return createParleyHttpClient({ url: server.url, token });
    },
    stop,
    close,
    [Symbol.asyncDispose]: close,
  };
}
