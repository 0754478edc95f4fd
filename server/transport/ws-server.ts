/**
 * @module ws-server
 * tRPC over WebSocket (`applyWSSHandler`) on a `ws` server that shares the HTTP port.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { applyWSSHandler, type CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import type { AnyRouter } from '@trpc/server';
import type { Context } from '../router/trpc.js';
import type { Logger } from '../log.js';
import { corkPerTurn } from './cork-per-turn.js';

export interface WsServerOptions {
  router: AnyRouter;
  createContext: (opts: CreateWSSContextFnOptions) => Promise<Context>;
  log: Logger;
}

export function createParleyWsServer({ router, createContext, log }: WsServerOptions) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const handler = applyWSSHandler({
    wss,
    router,
    createContext,
    keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 10_000 },
    onError: ({ error, path }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  });

  return {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        corkPerTurn(ws, socket);
        wss.emit('connection', ws, req);
      });
    },
    broadcastReconnectNotification: handler.broadcastReconnectNotification,
    /** Stops accepting and ends every open socket. */
    close(): Promise<void> {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
