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
import { createHttpContextFactory, createWsContextFactory } from './transport/context.js';
import { createParleyHttpServer, trpcPath } from './transport/http-server.js';
import { createParleyWsServer } from './transport/ws-server.js';
import { createStaticHandler } from './transport/static-files.js';
import { packageRoot } from './package-root.js';

/** Where `npm run build` puts the demo page: `demo-dist/` at the package root. */
const demoDir = join(packageRoot(import.meta.url), 'demo-dist');

export interface ParleyServer {
  /** Base URL, e.g. `http://127.0.0.1:8080` (the real port when started on port 0). */
  url: string;
  /** Stops accepting, tells clients to reconnect, closes every socket, then the store. */
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
  const store =
    options.store ??
    (config.databaseUrl
      ? await PostgresStore.open(config.databaseUrl, { log })
      : new SqliteStore(join(dataDir, 'parley.db')));
  const bus =
    options.bus ??
    (config.redisUrl ? new RedisBus({ url: config.redisUrl, prefix: config.redisPrefix, log }) : new MemoryBus());
  const tokens = createTokenService(loadOrCreateSecret(dataDir, config.jwtSecret));
  const accounts = new AccountService(store, tokens, config.tokenTtlSeconds);
  const messages = new MessageService(store, bus);
  const router = createAppRouter({ accounts, messages, maxTextLength: config.maxTextLength });

  const ws = createParleyWsServer({ router, createContext: createWsContextFactory(accounts), log });
  const http = createParleyHttpServer({
    router,
    createContext: createHttpContextFactory(accounts),
    checkReady: async () => {
      await store.ping();
      await bus.ping();
    },
    serveStatic: createStaticHandler(demoDir),
    onUpgrade: ws.handleUpgrade,
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
        ws.broadcastReconnectNotification();
        const httpClosed = new Promise<void>((done) => http.close(() => done()));
        http.closeAllConnections();
        await ws.close();
        await httpClosed;
        await bus.close();
        await store.close();
        log.info('parley stopped');
      })();
      return closing;
    },
  };
}
