/**
 * @module ws-server
 * tRPC over WebSocket (`applyWSSHandler`) on a `ws` server that shares the HTTP port,
 * with the limits the adapter leaves to us: origin policy, connection caps per address
 * and per user, a deadline for `connectionParams`, frame size, slow consumers, dead
 * peers, and closing sockets whose token expires. The per-message calls are served
 * beneath tRPC, with the same frames (direct-calls.ts; PARLEY_DIRECT_CALLS=off turns it off).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { applyWSSHandler, type CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import type { AnyRouter, TRPCError } from '@trpc/server';
import type { AccountService } from '../auth/account-service.js';
import type { Config } from '../config.js';
import type { Context } from '../router/trpc.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../observability/metrics.js';
import { closes, type CloseValue } from '../../protocol/closes.js';
import { logProcedureError } from './procedure-errors.js';
import { contextFromToken } from './context.js';
import { addressLimitKey, type ClientAddress } from './client-address.js';
import { ConnectionCounter } from './connection-counter.js';
import { closeAsSlowConsumer, corkPerTurn } from './cork-per-turn.js';
import { startHeartbeat } from './heartbeat.js';
import { createOriginCheck } from './origin-policy.js';
import { createBackpressure, type Backpressure } from './backpressure.js';
import { createDirectCalls } from './direct-calls.js';
import { createBatchLimit } from './batch-limit.js';
import type { MessageProcedures } from '../router/message-procedures.js';

export interface WsServerOptions {
  router: AnyRouter;
  /** Served beneath tRPC on this transport (see direct-calls.ts). */
  procedures: MessageProcedures;
  accounts: AccountService;
  config: Config;
  /** Who a handshake is from (the forwarded address behind a trusted proxy): the per-address cap's key. */
  clientAddress: ClientAddress;
  metrics: Metrics;
  log: Logger;
}

/** A refused token's socket stays open this long, so the client gets its UNAUTHORIZED replies first. */
const refusedCloseDelayMs = 1000;
/** A client that takes none of its data for this long is closed as a slow consumer. */
const stalledAfterMs = 5000;
/** Longest delay `setTimeout` accepts; a later expiry is re-armed when it fires. */
const maxTimerMs = 2 ** 31 - 1;

function refuseHandshake(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function createParleyWsServer({ router, procedures, accounts, config, clientAddress, metrics, log }: WsServerOptions) {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: config.maxPayloadBytes,
  });
  const perIp = new ConnectionCounter(config.maxConnectionsPerIp);
  const perUser = new ConnectionCounter(config.maxConnectionsPerUser);
  const originAllowed = createOriginCheck(config.allowedOrigins);
  const authDeadlines = new WeakMap<WebSocket, NodeJS.Timeout>();
  const backpressures = new WeakMap<WebSocket, Backpressure>();
  let accepting = true;
  let connections = 0;

  const closeWith = (ws: WebSocket, close: CloseValue) => {
    if (ws.readyState !== ws.OPEN) return;
    metrics.closes.inc({ reason: close.metric });
    ws.close(close.code, close.reason);
  };

  const closeAtExpiry = (ws: WebSocket, expiresAt: number) => {
    let timer: NodeJS.Timeout;
    const arm = () => {
      const wait = expiresAt - Date.now();
      timer = setTimeout(
        () => (wait > maxTimerMs ? arm() : closeWith(ws, closes.tokenExpired)),
        Math.max(0, Math.min(wait, maxTimerMs)),
      );
    };
    arm();
    ws.once('close', () => clearTimeout(timer));
  };

  const createContext = (opts: CreateWSSContextFnOptions): Promise<Context> =>
    direct === null ? createContextOf(opts) : direct.trackContext(opts.res, createContextOf(opts));

  const createContextOf = async ({ req, res: ws, info }: CreateWSSContextFnOptions): Promise<Context> => {
    const backpressure = backpressures.get(ws) ?? (() => null);
    const base = { clientIp: clientAddress.of(req), connection: { subscriptions: 0, backpressure } };
    const auth = await contextFromToken(accounts, info.connectionParams?.['token']);
    // A socket without a token (no connectionParams, or none in them) keeps its deadline.
    if (auth.userId !== null || auth.refusal !== null) clearTimeout(authDeadlines.get(ws));
    if (auth.refusal !== null) {
      const close = auth.refusal === 'expired' ? closes.tokenExpired : closes.tokenRefused;
      setTimeout(() => closeWith(ws, close), refusedCloseDelayMs).unref();
      return { ...base, userId: null, authError: auth.authError };
    }
    if (auth.userId === null) return { ...base, userId: null, authError: null };
    // The socket may have closed while the token was checked: its close listeners would
    // never run, so take no slot and arm no timer for it.
    if (ws.readyState !== ws.OPEN) return { ...base, userId: null, authError: null };

    const userId = auth.userId;
    if (!perUser.tryAdd(userId)) {
      closeWith(ws, closes.userLimit);
      return { ...base, userId: null, authError: `Too many connections for this user (at most ${perUser.limit})` };
    }
    ws.once('close', () => perUser.remove(userId));
    if (auth.expiresAt !== null) closeAtExpiry(ws, auth.expiresAt);
    log.debug({ userId, ip: base.clientIp }, 'websocket authenticated');
    return { ...base, userId, authError: null };
  };

  const onError = (info: { error: TRPCError; path: string | undefined }) => logProcedureError(log, 'websocket', info);
  // One labelled child per procedure: looking the labels up on every call would cost
  // more than the rest of the count.
  const servedCounts = new Map<string, { inc(): void }>();
  const onServed = (procedure: string) => {
    let count = servedCounts.get(procedure);
    if (count === undefined) servedCounts.set(procedure, (count = metrics.directCalls.labels({ procedure })));
    count.inc();
  };
  const direct = config.directCalls ? createDirectCalls({ router, procedures, onError, onServed }) : null;
  const handler = applyWSSHandler({ wss, router, createContext, onError });
  const batchLimit = createBatchLimit({ router, maxQueries: config.maxBatch, onError });
  const stopHeartbeat = startHeartbeat(wss, config.heartbeatMs, () => metrics.closes.inc({ reason: 'dead_peer' }));

  return {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      if (!accepting) return refuseHandshake(socket, '503 Service Unavailable');
      if (!originAllowed(req.headers.origin, req.headers.host)) {
        metrics.closes.inc({ reason: 'origin' });
        return refuseHandshake(socket, '403 Forbidden');
      }
      const ip = clientAddress.of(req) ?? 'unknown';
      const ipKey = addressLimitKey(ip);
      wss.handleUpgrade(req, socket, head, (ws) => {
        const connId = ++connections;
        log.debug({ connId, ip }, 'websocket open');
        ws.once('close', (code: number) => {
          log.debug({ connId, code }, 'websocket closed');
          if (code === 1009) metrics.closes.inc({ reason: 'max_payload' });
        });
        metrics.connections.inc();
        ws.once('close', () => metrics.connections.dec());
        corkPerTurn(ws, socket, config.sendBufferLimitBytes, () => metrics.closes.inc({ reason: closes.slowConsumer.metric }));
        backpressures.set(
          ws,
          createBackpressure(ws, socket, config.sendBufferLimitBytes / 4, stalledAfterMs, () => {
            metrics.closes.inc({ reason: closes.slowConsumer.metric });
            closeAsSlowConsumer(ws);
          }),
        );
        if (!perIp.tryAdd(ipKey)) {
          closeWith(ws, closes.ipLimit);
          return;
        }
        ws.once('close', () => perIp.remove(ipKey));
        const deadline = setTimeout(
          () => closeWith(ws, closes.authTimeout),
          config.authTimeoutMs,
        );
        authDeadlines.set(ws, deadline);
        ws.once('close', () => clearTimeout(deadline));
        wss.emit('connection', ws, req);
        direct?.attach(ws);
        batchLimit.attach(ws);
      });
    },
    /** Stops accepting and asks every client to reconnect (elsewhere, or here once back). */
    stopAccepting() {
      accepting = false;
      handler.broadcastReconnectNotification();
    },
    get connectionCount() {
      return wss.clients.size;
    },
    /** Closes every open socket as "shutting down" and stops the server. */
    async close(): Promise<void> {
      accepting = false;
      stopHeartbeat();
      // Replies of calls that just finished are still on their way through promise
      // chains: a turn lets them reach their sockets, ahead of the close frames (a frame
      // sent once a socket is closing is dropped).
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const ws of wss.clients) closeWith(ws, closes.shuttingDown);
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
