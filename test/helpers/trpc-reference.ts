/**
 * tRPC's own WebSocket adapter (`applyWSSHandler`) serving Parley's router, as a
 * reference for what Parley's WebSocket handler must answer: the router is built as
 * server/app.ts builds it, over a store and services of its own in a temp dir, with a
 * context like Parley's (the token of `connectionParams`, a connection object per socket)
 * and none of Parley's transport limits (caps, deadlines, close codes).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { defaultConfig, type Config } from '../../server/config.js';
import { createLogger } from '../../server/log.js';
import { SqliteStore } from '../../server/store/sqlite-store.js';
import { MemoryBus } from '../../server/bus/memory-bus.js';
import { loadOrCreateSecret } from '../../server/auth/secret.js';
import { createTokenService } from '../../server/auth/tokens.js';
import { AccountService } from '../../server/auth/account-service.js';
import { MessageService } from '../../server/messages/message-service.js';
import { createAppRouter } from '../../server/router/app-router.js';
import type { Context } from '../../server/router/trpc.js';
import { contextFromToken } from '../../server/transport/context.js';
import { addressLimitKey } from '../../server/transport/client-address.js';
import { createMetrics, routerMetrics } from '../../server/observability/metrics.js';
import { TokenBuckets } from '../../server/limits/token-buckets.js';
import { createSignInLimits } from '../../server/limits/sign-in-limits.js';
import { InFlight } from '../../server/lifecycle/in-flight.js';
import { tempDir, testSecret } from './server.js';

export interface TrpcReference {
  /** Base URL (`http://127.0.0.1:<port>`): raw-ws.ts's `openRaw` takes it as it takes a Parley URL. */
  url: string;
  close(): Promise<void>;
}

/**
 * `maxBatchSize`: tRPC's limit of elements per frame. `overrides`: the router's limits
 * (text length, subscription cap, rate limits), as Parley's config names them.
 */
export async function startTrpcReference(maxBatchSize: number, overrides: Partial<Config> = {}): Promise<TrpcReference> {
  const dataDir = tempDir('parley-trpc-reference-');
  const config = defaultConfig({ dataDir, jwtSecret: testSecret, ...overrides });
  const log = createLogger('silent');
  const store = new SqliteStore(join(dataDir, 'parley.db'), log);
  const tokens = createTokenService(loadOrCreateSecret(dataDir, config.jwtSecret), config);
  const accounts = new AccountService(store, tokens, config.tokenTtlSeconds);
  const limiter = (rate: Config['sendRateLimit']) => (rate ? new TokenBuckets(rate.perSecond, rate.burst) : null);
  const router = createAppRouter({
    accounts,
    messages: new MessageService(store, new MemoryBus(), {
      maxReplays: config.maxReplays,
      maxReplaysPerUser: config.maxReplaysPerUser,
    }),
    maxTextLength: config.maxTextLength,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    sendLimiter: limiter(config.sendRateLimit),
    signInLimits: config.loginRateLimit && createSignInLimits(config.loginRateLimit, addressLimitKey),
    queryLimiter: limiter(config.queryRateLimit),
    inFlight: new InFlight(),
    metrics: routerMetrics(createMetrics()),
  });

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  applyWSSHandler({
    wss,
    router,
    maxBatchSize,
    async createContext({ req, info }): Promise<Context> {
      const { userId, authError } = await contextFromToken(accounts, info.connectionParams?.['token']);
      const connection = { subscriptions: 0, backpressure: () => null };
      return { userId, authError, clientIp: req.socket.remoteAddress ?? null, connection };
    },
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
