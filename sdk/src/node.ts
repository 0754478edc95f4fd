/**
 * @module @parley/sdk (Node entry)
 * The same API, with `ws` as the default WebSocket for Node 20.
 */
import WebSocket from 'ws';
import { createParleyClient as createClient, type ParleyClient, type ParleyClientOptions } from './ws-client.js';

export * from './index.js';

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  return createClient({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, ...options });
}
