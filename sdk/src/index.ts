/**
 * @module @parley/sdk
 * The typed client of Parley. Browser-safe: no Node built-ins. In Node, the package's
 * `node` export adds the `ws` WebSocket (Node 20 has no global one).
 *
 * @example
 * ```ts
 * import { createParleyClient, subscribeMessages } from '@parley/sdk';
 * const client = createParleyClient({ url: 'http://localhost:8080', token: () => getToken() });
 * subscribeMessages(client, (m) => console.log(m.from, m.text, m.sentAt));
 * await client.sendToUser.mutate({ to: 'bob', text: 'hi' });
 * ```
 */
export {
  createParleyClient,
  ParleyConnectionClosedError,
  type ParleyClient,
  type ParleyClientOptions,
  type ConnectionState,
} from './ws-client.js';
export { createParleyHttpClient, type ParleyHttpClient, type ParleyHttpClientOptions } from './http-client.js';
export { subscribeMessages, type SubscribeMessagesOptions, type MessageSubscription } from './subscribe-messages.js';
export { memoryCursorStore, localStorageCursorStore, type CursorStore } from './cursor-store.js';
export { trpcUrls } from './urls.js';
export type { KeepAliveOptions } from './keep-alive.js';
export { TRPCClientError } from '@trpc/client';
export type {
  AppRouter,
  Message,
  Conversation,
  Session,
  TokenSource,
  RouterInputs,
  RouterOutputs,
} from './types.js';
