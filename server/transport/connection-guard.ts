/**
 * @module connection-guard
 * Limits on TCP connections from accept, before any byte is parsed: a total cap (dropped
 * by node's `maxConnections`, the cheapest refusal there is), a per-address cap on
 * connections that have not upgraded, and a deadline for a connection that never sends
 * a request. Node's own headers, request and keep-alive timeouts cover the rest (see
 * http-server.ts). Near the descriptor limit, or when accept fails for lack of
 * descriptors, it says so in the log, one line per burst.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { burstWarning } from './burst-log.js';
import { addressLimitKey, type ClientAddress } from './client-address.js';
import { ConnectionCounter } from './connection-counter.js';
import type { DescriptorLimit } from './descriptor-limit.js';

export interface ConnectionGuardOptions {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** A connection without a request for this long is closed (0: never). */
  idleTimeoutMs: number;
  descriptors: DescriptorLimit;
  clientAddress: ClientAddress;
  /** Counts a connection the guard refused or closed, by reason. */
  onClosed: (reason: 'connection_limit' | 'ip_limit_before_upgrade' | 'idle_timeout') => void;
  log: Logger;
}

/** Share of the connection or descriptor limit past which the log warns. */
const nearLimitShare = 0.9;

export function guardConnections(server: Server, options: ConnectionGuardOptions) {
  const { descriptors, clientAddress, log } = options;
  const pending = new ConnectionCounter(options.maxConnectionsPerIp);
  // The address each counted, not yet upgraded socket holds a place for.
  const pendingKeys = new WeakMap<Socket, string>();
  const release = (socket: Socket) => {
    const key = pendingKeys.get(socket);
    if (key === undefined) return;
    pendingKeys.delete(socket);
    pending.remove(key);
  };
  let open = 0;
  // Warn at 90% of the cap, or of the descriptors left after those open at start when the
  // cap was set above the descriptor limit.
  const nearLimitAt = Math.min(
    Math.floor(options.maxConnections * nearLimitShare),
    descriptors.limit === null ? Infinity : Math.floor(descriptors.limit * nearLimitShare) - descriptors.openAtStart,
  );
  const warnNearLimit = burstWarning(log, 'near the connection limit: new connections will soon be dropped');
  const warnDropped = burstWarning(log, 'connection dropped: at PARLEY_MAX_CONNECTIONS');
  const warnPerIp = burstWarning(log, 'connection closed: too many connections from this address before the upgrade');
  const warnAcceptFailed = burstWarning(log, 'accept failed: out of file descriptors, connections are being dropped');

  server.maxConnections = options.maxConnections;
  server.on('drop', () => {
    options.onClosed('connection_limit');
    warnDropped({ maxConnections: options.maxConnections });
  });

  // One listener function each for every socket (a socket lives long as a WebSocket:
  // per-socket closures would be memory it keeps for nothing).
  function onClose(this: Socket) {
    open -= 1;
    release(this);
  }
  const onIdle = () => options.onClosed('idle_timeout');

  server.on('connection', (socket: Socket) => {
    open += 1;
    socket.on('close', onClose);
    if (open >= nearLimitAt) {
      warnNearLimit({ connections: open, maxConnections: options.maxConnections, descriptorLimit: descriptors.limit });
    }
    const peer = socket.remoteAddress;
    // Behind a trusted proxy the client is not known before its headers: only the total cap applies.
    if (!clientAddress.isTrustedProxy(peer)) {
      const key = peer === undefined ? 'unknown' : addressLimitKey(peer);
      if (!pending.tryAdd(key)) {
        options.onClosed('ip_limit_before_upgrade');
        warnPerIp({ ip: key, limit: pending.limit });
        socket.destroy();
        return;
      }
      pendingKeys.set(socket, key);
    }
    if (options.idleTimeoutMs > 0) {
      // With no 'timeout' listener on the request, node's own handler destroys the socket.
      socket.setTimeout(options.idleTimeoutMs);
      socket.on('timeout', onIdle);
    }
  });

  // Once a request is in, its handler may take its time; after the reply, node's
  // keep-alive timeout takes over until the next one.
  const requestStarted = (req: { socket: Socket }) => req.socket.setTimeout(0);
  server.on('request', requestStarted);
  server.on('checkContinue', requestStarted);

  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall === 'accept' && (error.code === 'EMFILE' || error.code === 'ENFILE')) {
      warnAcceptFailed({ code: error.code, connections: open, descriptorLimit: descriptors.limit });
    } else {
      log.error({ err: error }, 'http server error');
    }
  });

  return {
    /** The socket became a WebSocket: it no longer counts as waiting, and its own limits apply. */
    upgraded(socket: Socket): void {
      release(socket);
      socket.setTimeout(0);
      socket.off('timeout', onIdle);
    },
  };
}
