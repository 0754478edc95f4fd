/**
 * @module server
 * Parley's WebSocket endpoint: tRPC's WebSocket protocol served by Parley's own
 * connection handler (connection.ts, protocol.ts, dispatch.ts) on a `ws` server that
 * shares the HTTP port. Here: the upgrade (origin policy, shutdown, per-address cap),
 * the heartbeat that finds dead peers, the reconnect notification, and shutdown.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AnyRouter, TRPCError } from '@trpc/server';
import type { AccountService } from '../../auth/account-service.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../observability/metrics.js';
import type { MessageProcedures } from '../../router/message-procedures.js';
import { closes } from '../../../protocol/closes.js';
import { logProcedureError } from '../procedure-errors.js';
import { addressLimitKey, type ClientAddress } from '../client-address.js';
import { ConnectionCounter } from '../connection-counter.js';
import { createOriginCheck } from '../origin-policy.js';
import { Connection, type ConnectionHost } from './connection.js';
import { createDispatch } from './dispatch.js';
import { reconnectFrame } from './protocol.js';
import { TurnCorker } from './slow-consumer.js';

export interface WsServerOptions {
  router: AnyRouter;
  /** The hot procedures, served directly (dispatch.ts). */
  procedures: MessageProcedures;
  accounts: AccountService;
  config: Config;
  /** Who a handshake is from (the forwarded address behind a trusted proxy): the per-address cap's key. */
  clientAddress: ClientAddress;
  metrics: Metrics;
  log: Logger;
}

/** A client that takes none of its data for this long while a subscription waits is closed as a slow consumer. */
const stalledAfterMs = 5000;
/**
 * Calls of any kind in one frame, refused whole above this as tRPC refuses a batch over
 * its `maxBatchSize`. Far above what a client puts in one frame (wsLink sends every call
 * of one tick together); queries have their own, lower limit (PARLEY_MAX_BATCH).
 */
const maxCallsPerFrame = 100;

function refuseHandshake(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function createParleyWsServer({ router, procedures, accounts, config, clientAddress, metrics, log }: WsServerOptions) {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: config.maxPayloadBytes,
  });
  const originAllowed = createOriginCheck(config.allowedOrigins);
  const countClose = (reason: string) => metrics.closes.inc({ reason });
  const onError = (info: { error: TRPCError; path: string | undefined }) => logProcedureError(log, 'websocket', info);
  // One labelled child per procedure: looking the labels up on every call would cost
  // more than the rest of the count.
  const servedCounts = new Map<string, { inc(): void }>();
  const onServed = (procedure: string) => {
    let count = servedCounts.get(procedure);
    if (count === undefined) servedCounts.set(procedure, (count = metrics.directCalls.labels({ procedure })));
    count.inc();
  };
  const connections = new Set<Connection>();
  const host: ConnectionHost = {
    routerConfig: router._def._config,
    dispatch: createDispatch({ router, procedures, onError, onServed }),
    accounts,
    perIp: new ConnectionCounter(config.maxConnectionsPerIp),
    perUser: new ConnectionCounter(config.maxConnectionsPerUser),
    batchLimits: { maxBatchSize: maxCallsPerFrame, maxQueries: config.maxBatch },
    slowConsumer: {
      maxBufferedBytes: config.sendBufferLimitBytes,
      stalledAfterMs,
      onSlowConsumer: () => countClose(closes.slowConsumer.metric),
    },
    corker: new TurnCorker(),
    authTimeoutMs: config.authTimeoutMs,
    log,
    countClose,
    onError,
    forget(connection) {
      connections.delete(connection);
      metrics.connections.dec();
    },
  };
  let accepting = true;

  // A socket that has not answered the previous ping by the next one is a dead peer
  // (browsers answer pings by themselves): terminated, which releases what it holds.
  const heartbeat = setInterval(() => {
    for (const connection of connections) {
      const { ws } = connection;
      if (ws.readyState !== ws.OPEN) continue;
      if (!connection.alive) {
        countClose('dead_peer');
        ws.terminate();
        continue;
      }
      connection.alive = false;
      ws.ping();
    }
  }, config.heartbeatMs);
  heartbeat.unref();

  return {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      if (!accepting) return refuseHandshake(socket, '503 Service Unavailable');
      if (!originAllowed(req.headers.origin, req.headers.host)) {
        countClose('origin');
        return refuseHandshake(socket, '403 Forbidden');
      }
      const ip = clientAddress.of(req);
      // As tRPC's adapter: `?connectionParams=1` says the first frame carries them.
      const expectsParams = new URL(req.url ?? '/', 'http://localhost').searchParams.get('connectionParams') === '1';
      wss.handleUpgrade(req, socket, head, (ws) => {
        const connection = new Connection(host, ws, socket, ip, addressLimitKey(ip ?? 'unknown'), expectsParams);
        connections.add(connection);
        metrics.connections.inc();
        log.debug({ ip }, 'websocket open');
        connection.start();
      });
    },
    /** Stops accepting and asks every client to reconnect (elsewhere, or here once back). */
    stopAccepting() {
      accepting = false;
      for (const connection of connections) connection.send(reconnectFrame);
    },
    get connectionCount() {
      return connections.size;
    },
    /** Closes every open socket as "shutting down" and stops the server. */
    async close(): Promise<void> {
      accepting = false;
      clearInterval(heartbeat);
      // Replies of calls that just finished are still on their way through promise
      // chains: a turn lets them reach their sockets, ahead of the close frames (a frame
      // sent once a socket is closing is dropped).
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const connection of connections) connection.close(closes.shuttingDown);
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
      for (const connection of connections) connection.ws.terminate();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
