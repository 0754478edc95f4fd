/**
 * @module http-server
 * One `node:http` server: tRPC over HTTP at /trpc, WebSocket upgrades at /trpc,
 * health and readiness probes, metrics, and the demo page; with the limits on
 * connections (connection-guard.ts), their timeouts and request bodies (body-limit.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { AnyRouter } from '@trpc/server';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { logProcedureError } from './procedure-errors.js';
import { closeWhenTooLarge, declaredBodyTooLarge, refuseDeclaredBody } from './body-limit.js';
import type { ClientAddress } from './client-address.js';
import { guardConnections } from './connection-guard.js';
import { defaultMaxConnections, readDescriptorLimit } from './descriptor-limit.js';
import { createMetricsEndpoint } from './metrics-endpoint.js';

export const trpcPath = '/trpc';

export interface HttpServerOptions {
  router: AnyRouter;
  createContext: Parameters<typeof createHTTPHandler>[0]['createContext'];
  /** Resolves when the store and bus can serve; rejects with the reason otherwise. */
  checkReady: () => Promise<void>;
  serveStatic: ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) | null;
  onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
  /** Prometheus text exposition. */
  metrics: { contentType: string; render: () => Promise<string> };
  /** Counts a connection refused or closed before any WebSocket, by reason. */
  countClose: (reason: string) => void;
  clientAddress: ClientAddress;
  config: Pick<
    Config,
    | 'maxConnections'
    | 'maxConnectionsPerIp'
    | 'headersTimeoutMs'
    | 'requestTimeoutMs'
    | 'idleTimeoutMs'
    | 'maxBodyBytes'
    | 'metricsMaxAgeMs'
    | 'metricsToken'
    | 'maxBatch'
  >;
  log: Logger;
}

/** What every response but the demo's files carries: never sniffed, never cached. */
function setApiHeaders(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('cache-control', 'no-store');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createParleyHttpServer(options: HttpServerOptions) {
  const { config } = options;
  const trpcHandler = createHTTPHandler({
    router: options.router,
    createContext: options.createContext,
    basePath: `${trpcPath}/`,
    // A larger `?batch=1` request is refused whole (400 BAD_REQUEST) before any call runs.
    maxBatchSize: config.maxBatch,
    maxBodySize: config.maxBodyBytes,
    responseMeta: closeWhenTooLarge,
    onError: (info) => logProcedureError(options.log, 'http', info),
  });

  const metricsEndpoint = createMetricsEndpoint({
    render: options.metrics.render,
    token: config.metricsToken,
    maxAgeMs: config.metricsMaxAgeMs,
  });

  let requests = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const started = performance.now();
    const reqId = ++requests;
    // The path only: a query string could carry input, and input may carry message text.
    res.once('finish', () =>
      options.log.debug(
        {
          reqId,
          ip: options.clientAddress.of(req),
          method: req.method,
          path: pathname,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'http request',
      ),
    );
    if (options.serveStatic?.(req, res, pathname)) return;
    setApiHeaders(res);
    if (declaredBodyTooLarge(req, config.maxBodyBytes)) {
      refuseDeclaredBody(options.router, res, config.maxBodyBytes);
      return;
    }
    if (pathname === trpcPath || pathname.startsWith(`${trpcPath}/`)) {
      trpcHandler(req, res);
      return;
    }
    if (pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/metrics') {
      if (!metricsEndpoint.authorized(req)) {
        res.setHeader('www-authenticate', 'Bearer');
        sendJson(res, 401, { error: 'GET /metrics needs "Authorization: Bearer <PARLEY_METRICS_TOKEN>"' });
        return;
      }
      metricsEndpoint.text().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.metrics.contentType });
          res.end(text);
        },
        (error: unknown) => {
          options.log.error({ err: error }, 'metrics failed');
          sendJson(res, 500, { error: 'metrics failed' });
        },
      );
      return;
    }
    if (pathname === '/readyz') {
      options.checkReady().then(
        () => sendJson(res, 200, { status: 'ready' }),
        (error: unknown) => {
          options.log.warn({ err: error }, 'not ready');
          // The details (hosts, driver messages) go to the log, not to anonymous callers.
          sendJson(res, 503, { status: 'not ready' });
        },
      );
      return;
    }
    sendJson(res, 404, { error: `Nothing at ${pathname}: the API is at ${trpcPath}` });
  };

  // Node checks the headers and request deadlines on an interval (30 s by default): make it
  // a quarter of the shorter one, so a deadline is kept to within a quarter of itself.
  const deadlines = [config.headersTimeoutMs, config.requestTimeoutMs].filter((ms) => ms > 0);
  const server = createHttpServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      keepAliveTimeout: config.idleTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(Math.min(...deadlines, 20_000) / 4))),
    },
    handle,
  );
  // Clients that wait for "100 Continue" before a large body are refused before sending it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!declaredBodyTooLarge(req, config.maxBodyBytes)) res.writeContinue();
    handle(req, res);
  });
  const descriptors = readDescriptorLimit();
  const guard = guardConnections(server, {
    maxConnections: config.maxConnections ?? defaultMaxConnections(descriptors),
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    idleTimeoutMs: config.idleTimeoutMs,
    descriptors,
    clientAddress: options.clientAddress,
    onClosed: options.countClose,
    log: options.log,
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    guard.upgraded(socket);
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== trpcPath) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    options.onUpgrade(req, socket, head);
  });

  return server;
}
