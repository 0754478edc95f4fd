/**
 * @module ws-client
 * `createParleyClient`: the typed client over one WebSocket, with reconnect, resume of
 * subscriptions from their last event id, and a fresh token on every reconnect.
 */
import { createTRPCClient, createWSClient, wsLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter, TokenSource } from './types.js';
import { trpcUrls } from './urls.js';
import { backoffDelay } from './backoff.js';
import { parleyLink } from './links.js';
import { createDirectCall } from './direct-call.js';
import { resolveToken } from './resolve-token.js';
import { createKeepAlive, type KeepAliveOptions } from './keep-alive.js';
import { reconnectsAfter } from '../../protocol/closes.js';

/**
 * `connected`: socket open; `reconnecting`: lost, trying again; `idle`: no socket needed
 * yet; `closed`: the server refused the client for good (see `onClosed`).
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The server closed the connection with a code that says reconnecting cannot help. */
export class ParleyConnectionClosedError extends Error {
  override name = 'ParleyConnectionClosedError';
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`Parley: the server closed the connection for good (${code}${reason ? `: ${reason}` : ''})`);
  }
}

export interface ParleyClientOptions {
  /**
   * The server's base URL, e.g. `http://localhost:8080`; or the base URLs of several nodes
   * of one deployment, used in turn: each new socket (the first, or one after a drop)
   * goes to the next, so a client whose node died carries on with another.
   */
  url: string | readonly string[];
  token: TokenSource;
  /** A WebSocket implementation; defaults to the global one (browsers, Node >= 22; the Node entry uses `ws`). */
  WebSocket?: typeof globalThis.WebSocket;
  /** Called on every change of the connection's state. */
  onStateChange?: (state: ConnectionState) => void;
  /**
   * Called when the server closes the connection with a terminal code (token refused,
   * connection limit): the client stops reconnecting. Other closes (token
   * expired, slow consumer, server restart, network loss) reconnect by themselves.
   */
  onClosed?: (error: ParleyConnectionClosedError) => void;
  /** How often the socket is probed for a connection that died without a close, and how long an answer may take. */
  keepAlive?: KeepAliveOptions;
}

export type ParleyClient = TRPCClient<AppRouter> & {
  /** The connection's current state. */
  readonly connectionState: ConnectionState;
  /** Ends every subscription and closes the socket. */
  close(): Promise<void>;
};

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  if (!WebSocketImpl) {
    throw new TypeError('Parley: no WebSocket implementation: pass { WebSocket } (e.g. from the "ws" package)');
  }
  let state: ConnectionState = 'idle';
  const setState = (next: ConnectionState) => {
    if (next === state) return;
    state = next;
    options.onStateChange?.(next);
  };

  const wsUrls = (typeof options.url === 'string' ? [options.url] : options.url).map((url) => trpcUrls(url).ws);
  if (wsUrls.length === 0) throw new TypeError('Parley: url must name at least one server');
  let sockets = 0;
  let stopped: ParleyConnectionClosedError | null = null;

  const wsClient = createWSClient({
    // Called for every new socket.
    url: () => wsUrls[sockets++ % wsUrls.length] as string,
    WebSocket: WebSocketImpl,
    connectionParams: async () => ({ token: await resolveToken(options.token) }),
    // The socket opens on first use and closes after a quiet spell with no subscription.
    lazy: { enabled: true, closeMs: 10_000 },
    retryDelayMs: (attempt) => backoffDelay(attempt),
    // Ours instead (keep-alive.ts): the same probe without a cost per message.
    keepAlive: { enabled: false },
    onClose: (cause) => {
      const code = cause?.code;
      if (stopped || code === undefined || reconnectsAfter(code)) return;
      const reason = (cause as { reason?: unknown }).reason;
      stopped = new ParleyConnectionClosedError(code, typeof reason === 'string' ? reason : '');
      keepAlive.stop();
      void wsClient.close();
      setState('closed');
      options.onClosed?.(stopped);
    },
  });
  // Probes only while a socket is open: no timer for an idle or closed client.
  const keepAlive = createKeepAlive(() => wsClient.connection?.ws ?? null, options.keepAlive);
  const stateSubscription = wsClient.connectionState.subscribe({
    next: (s) => {
      if (s.state === 'pending' && !stopped) keepAlive.start();
      else keepAlive.stop();
      if (stopped) return;
      if (s.state === 'pending') setState('connected');
      else if (s.state === 'idle') setState('idle');
      else setState(s.error || state === 'connected' || state === 'reconnecting' ? 'reconnecting' : 'connecting');
    },
  });

  const link = parleyLink({
    stopped: () => stopped,
    direct: { client: wsClient, transformer: { input: superjson, output: superjson } },
  });
  const trpc = createTRPCClient<AppRouter>({
    links: [link, wsLink<AppRouter>({ client: wsClient, transformer: superjson })],
  });
  // The calls made once per message skip the tRPC client's generic request path.
  const call = createDirectCall(link({}));
  const perMessage = {
    sendToUser: { mutate: (input, opts) => call('mutation', 'sendToUser', input, opts) },
    ack: { mutate: (input, opts) => call('mutation', 'ack', input, opts) },
  } as Pick<TRPCClient<AppRouter>, 'sendToUser' | 'ack'>;

  const close = async () => {
    keepAlive.stop();
    await wsClient.close();
    stateSubscription.unsubscribe();
  };
  return new Proxy(trpc, {
    get(target, prop, receiver) {
      if (prop === 'close') return close;
      if (prop === 'connectionState') return state;
      if (prop === 'sendToUser' || prop === 'ack') return perMessage[prop];
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as ParleyClient;
}
