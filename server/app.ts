/**
 * @module app
 * The app factory: the one place where store, bus, services, router and transports are
 * chosen and wired together.
 */
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { SqliteStore } from './store/sqlite-store.js';
import { MemoryBus } from './bus/memory-bus.js';
import { PostgresStore } from './store/postgres-store.js';
import { RedisBus } from './bus/redis-bus.js';
import type { Store } from './store/store.js';
import type { Bus } from './bus/bus.js';
import { loadOrCreateSecret } from './auth/secret.js';
import { createTokenService } from './auth/tokens.js';
import { AccountService } from './auth/account-service.js';
import { MessageService } from './messages/message-service.js';
import { createAppRouter } from './router/app-router.js';
import { createMessageProcedures } from './router/message-procedures.js';
import { createHttpContextFactory } from './transport/context.js';
import { createParleyHttpServer, trpcPath } from './transport/http-server.js';
import { createParleyWsServer } from './transport/ws/server.js';
import { createStaticHandler } from './transport/static-files.js';
import { addressLimitKey, createClientAddress } from './transport/client-address.js';
import { packageRoot } from './package-root.js';
import { countingFailures, createMetrics, routerMetrics } from './observability/metrics.js';
import { TokenBuckets } from './limits/token-buckets.js';
import { createSignInLimits } from './limits/sign-in-limits.js';
import { InFlight } from './lifecycle/in-flight.js';
import { createDataDir, lockDataDir } from './data-dir.js';

/** Where `npm run build` puts the demo page: `demo-dist/` at the package root. */
const demoDir = join(packageRoot(import.meta.url), 'demo-dist');

export interface ParleyServer {
  /** Base URL, e.g. `http://127.0.0.1:8080` (the real port when started on port 0). */
  url: string;
  /**
   * Graceful stop: refuses new connections, asks clients to reconnect, lets running
   * requests finish (up to the shutdown grace), closes the remaining sockets, then the
   * bus and the store. Every send acknowledged to a client is committed before it returns.
   */
  close(): Promise<void>;
}

export interface ServerOptions {
  log?: Logger;
  /** Replace the embedded store or the in-process bus (other deployments, tests). */
  store?: Store;
  bus?: Bus;
}

export async function createServer(config: Config, options: ServerOptions = {}): Promise<ParleyServer> {
  const log = options.log ?? createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  const metrics = createMetrics();
  const embedded = options.store === undefined && config.databaseUrl === undefined;
  // The embedded store's file is this process's alone (see data-dir-lock.ts).
  const unlockDataDir = embedded ? lockDataDir(createDataDir(dataDir)) : () => {};
  let storeImpl: Store;
  try {
    storeImpl =
      options.store ??
      (config.databaseUrl ? await PostgresStore.open(config.databaseUrl, { log }) : new SqliteStore(join(dataDir, 'parley.db'), log));
  } catch (error) {
    unlockDataDir();
    throw error;
  }
  const busImpl =
    options.bus ??
    (config.redisUrl ? new RedisBus({ url: config.redisUrl, prefix: config.redisPrefix, log }) : new MemoryBus());
  const store = countingFailures(storeImpl, () => metrics.storeErrors.inc());
  const bus = countingFailures(busImpl, () => metrics.busErrors.inc());
  const tokens = createTokenService(loadOrCreateSecret(dataDir, config.jwtSecret), config);
  const accounts = new AccountService(store, tokens, config.tokenTtlSeconds);
  const messages = new MessageService(store, bus, {
    maxReplays: config.maxReplays,
    maxReplaysPerUser: config.maxReplaysPerUser,
  });
  const inFlight = new InFlight();
  const limiter = (rate: Config['sendRateLimit']) => (rate ? new TokenBuckets(rate.perSecond, rate.burst) : null);
  const routerDeps = {
    accounts,
    messages,
    maxTextLength: config.maxTextLength,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    sendLimiter: limiter(config.sendRateLimit),
    signInLimits: config.loginRateLimit && createSignInLimits(config.loginRateLimit, addressLimitKey),
    queryLimiter: limiter(config.queryRateLimit),
    inFlight,
    metrics: routerMetrics(metrics),
  };
  const router = createAppRouter(routerDeps);
  const procedures = createMessageProcedures(routerDeps);

  const clientAddress = createClientAddress(config.trustProxy);
  const ws = createParleyWsServer({ router, procedures, accounts, config, clientAddress, metrics, log });
  const http = createParleyHttpServer({
    router,
    createContext: createHttpContextFactory(accounts, clientAddress),
    checkReady: async () => {
      await store.ping();
      await bus.ping();
    },
    serveStatic: createStaticHandler(demoDir, { serveSourceMaps: config.serveSourceMaps }),
    onUpgrade: ws.handleUpgrade,
    metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
    countClose: (reason) => metrics.closes.inc({ reason }),
    clientAddress,
    config,
    log,
  });

  await new Promise<void>((resolveListen, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => {
      http.off('error', reject);
      resolveListen();
    });
  });
  const { port } = http.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  log.info({ url, trpc: `${url}${trpcPath}`, dataDir }, 'parley listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        log.info({ connections: ws.connectionCount, inFlight: inFlight.count }, 'parley stopping');
        const httpClosed = new Promise<void>((done) => http.close(() => done()));
        ws.stopAccepting();
        http.closeIdleConnections();
        // Every stored send is answered: new work is refused (retryable), running work
        // finishes, and ws.close() lets the last replies reach their sockets first.
        await inFlight.drain(config.shutdownGraceMs);
        await ws.close();
        http.closeAllConnections();
        await httpClosed;
        await bus.close();
        await storeImpl.close();
        unlockDataDir();
        log.info('parley stopped');
      })();
      return closing;
    },
  };
}
