/**
 * @module http-server
 * One `node:http` server: tRPC over HTTP at /trpc, WebSocket upgrades at /trpc,
 * health and readiness probes, and the demo page.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { AnyRouter } from '@trpc/server';
import type { Logger } from '../log.js';
import { logProcedureError } from './procedure-errors.js';

export const trpcPath = '/trpc';

export interface HttpServerOptions {
  router: AnyRouter;
  createContext: Parameters<typeof createHTTPHandler>[0]['createContext'];
  /** Most calls in one `?batch=1` request; tRPC refuses a larger one whole (400 BAD_REQUEST). */
  maxBatch: number;
  /** Resolves when the store and bus can serve; rejects with the reason otherwise. */
  checkReady: () => Promise<void>;
  serveStatic: ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) | null;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Prometheus text exposition. */
  metrics: { contentType: string; render: () => Promise<string> };
  log: Logger;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createParleyHttpServer(options: HttpServerOptions) {
  const trpcHandler = createHTTPHandler({
    router: options.router,
    createContext: options.createContext,
    basePath: `${trpcPath}/`,
    maxBatchSize: options.maxBatch,
    onError: (info) => logProcedureError(options.log, info),
  });

  let requests = 0;
  const server = createHttpServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const started = performance.now();
    const reqId = ++requests;
    // The path only: a query string could carry input, and input may carry message text.
    res.once('finish', () =>
      options.log.debug(
        { reqId, method: req.method, path: pathname, status: res.statusCode, ms: Math.round(performance.now() - started) },
        'http request',
      ),
    );
    if (pathname === trpcPath || pathname.startsWith(`${trpcPath}/`)) {
      trpcHandler(req, res);
      return;
    }
    if (pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/metrics') {
      options.metrics.render().then(
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
    if (options.serveStatic?.(req, res, pathname)) return;
    sendJson(res, 404, { error: `Nothing at ${pathname}: the API is at ${trpcPath}` });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== trpcPath) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    options.onUpgrade(req, socket, head);
  });

  return server;
}
