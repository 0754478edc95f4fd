/**
 * @module direct-mutations
 * Answers the per-message mutations (`sendToUser`, `ack`) beneath tRPC's WebSocket
 * adapter. tRPC's per-call machinery (an AbortController, middleware context copies,
 * several promises and closures) costs more CPU than the send itself, and its garbage is
 * most of the server's latency tail. The frames are the same, the input goes through the
 * same transformer and zod schema, the body is the router's own
 * (router/message-mutations.ts), and a failure gets tRPC's error shape and `onError`.
 * Whatever it does not take (another procedure, a batch, a socket without a user, input
 * that fails validation) tRPC's handler gets unchanged, so tRPC still answers every
 * malformed request itself.
 */
import type { AnyRouter, TRPCError } from '@trpc/server';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  transformTRPCResponse,
  type TRPCResponseMessage,
} from '@trpc/server/unstable-core-do-not-import';
import type { RawData, WebSocket } from 'ws';
import type { ZodTypeAny } from 'zod';
import type { Context } from '../router/trpc.js';
import { domainTrpcError } from '../router/trpc.js';
import type { MessageMutation } from '../router/message-mutations.js';

export interface DirectMutationsOptions {
  router: AnyRouter;
  /** By procedure path. */
  mutations: Record<string, MessageMutation<ZodTypeAny, unknown>>;
  /** Called like tRPC's `onError` for a failed call. */
  onError: (info: { error: TRPCError; path: string }) => void;
}

type Listener = (data: RawData, isBinary: boolean) => void;

/** Every mutation frame has this; a frame without it is not read twice. */
const mutationMarker = Buffer.from('"mutation"');

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function createDirectMutations({ router, mutations, onError }: DirectMutationsOptions) {
  const config = router._def._config;
  const respond = (ws: WebSocket, response: TRPCResponseMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(transformTRPCResponse(config, response)));
  };
  /** What `respond` sends for a result, without tRPC's three object copies per reply. */
  const respondWith = (ws: WebSocket, id: string | number, jsonrpc: '2.0' | undefined, data: unknown) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(JSON.stringify({ id, jsonrpc, result: { type: 'data', data: config.transformer.output.serialize(data) } }));
  };

  /** Runs `data` if it is a direct mutation of an authenticated socket; false leaves it to tRPC. */
  function take(ws: WebSocket, ctx: Context, data: RawData, isBinary: boolean): boolean {
    const userId = ctx.userId;
    if (userId === null || isBinary || !Buffer.isBuffer(data) || data.indexOf(mutationMarker) === -1) return false;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return false;
    }
    if (!isObject(frame) || frame['method'] !== 'mutation') return false;
    const { id, jsonrpc, params } = frame;
    if ((typeof id !== 'number' || Number.isNaN(id)) && typeof id !== 'string') return false;
    if (jsonrpc !== undefined && jsonrpc !== '2.0') return false;
    if (!isObject(params) || params['lastEventId'] !== undefined || typeof params['path'] !== 'string') return false;
    const path = params['path'];
    const mutation = Object.hasOwn(mutations, path) ? mutations[path] : undefined;
    if (mutation === undefined) return false;
    let input: unknown;
    try {
      input = config.transformer.input.deserialize(params['input']);
    } catch {
      return false;
    }
    const parsed = mutation.input.safeParse(input);
    if (!parsed.success) return false;

    const fail = (cause: unknown) => {
      const error = domainTrpcError(cause) ?? getTRPCErrorFromUnknown(cause);
      onError({ error, path });
      const shape = getErrorShape({ config, error, type: 'mutation', path, input, ctx });
      respond(ws, { id, jsonrpc, error: shape });
    };
    try {
      mutation.run(userId, parsed.data).then((result) => respondWith(ws, id, jsonrpc, result), fail);
    } catch (cause) {
      fail(cause);
    }
    return true;
  }

  return {
    /**
     * Puts the direct path in front of the socket's message listeners (tRPC's handler,
     * attached on 'connection'): a frame it takes, they never see. `contextOf` is the
     * socket's tRPC context once created, else undefined.
     */
    attach(ws: WebSocket, contextOf: () => Context | undefined): void {
      const listeners = ws.listeners('message') as Listener[];
      ws.removeAllListeners('message');
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const ctx = contextOf();
        if (ctx !== undefined && take(ws, ctx, data, isBinary)) return;
        for (const listener of listeners) listener.call(ws, data, isBinary);
      });
    },
  };
}
