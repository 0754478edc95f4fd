/**
 * @module direct-calls
 * Answers the per-message procedures (`sendToUser`, `ack`, `onMessage`) beneath tRPC's
 * WebSocket adapter. tRPC's per-call and per-event machinery (AbortControllers,
 * middleware context copies, promise races, response copies) costs more CPU than the
 * message itself, and its garbage is most of the server's latency tail. The frames are
 * the same, the input goes through the same transformer and zod schema, the bodies are
 * the router's own (router/message-procedures.ts), and a failure gets tRPC's error shape
 * and `onError`. Whatever it does not take (another procedure, a batch, a socket without
 * a user, input that fails validation) tRPC's handler gets unchanged and in order, so
 * tRPC still answers every malformed request itself.
 */
import { TRPCError, type AnyRouter } from '@trpc/server';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  transformTRPCResponse,
  type ProcedureType,
} from '@trpc/server/unstable-core-do-not-import';
import type { RawData, WebSocket } from 'ws';
import type { ZodTypeAny } from 'zod';
import type { Context } from '../router/trpc.js';
import { domainTrpcError } from '../router/trpc.js';
import type { MessageMutation, MessageProcedures } from '../router/message-procedures.js';

export interface DirectCallsOptions {
  router: AnyRouter;
  procedures: MessageProcedures;
  /** Called like tRPC's `onError` for a failed call. */
  onError: (info: { error: TRPCError; path: string }) => void;
}

type Listener = (data: RawData, isBinary: boolean) => void;
type CallId = string | number;

interface SocketState {
  /** The socket's tRPC context: not asked for yet, being created, or settled. */
  phase: 'before' | 'creating' | 'ready' | 'failed';
  ctx: Context | null;
  /** Frames that came while the context was being created, in order. */
  held: Array<[RawData, boolean]>;
  /** The subscriptions this path serves, by call id. */
  subscriptions: Map<CallId, AbortController>;
  /** Serves one frame, here or through tRPC; set once attached. */
  dispatch: Listener | null;
}

/** Frames of the calls served here contain one of these; any other frame is not read twice. */
const markers = [Buffer.from('"mutation"'), Buffer.from('"subscription')];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function createDirectCalls({ router, procedures, onError }: DirectCallsOptions) {
  const config = router._def._config;
  const mutations: Record<string, MessageMutation<ZodTypeAny, unknown>> = {
    sendToUser: procedures.sendToUser,
    ack: procedures.ack,
  };
  const states = new WeakMap<WebSocket, SocketState>();
  const stateOf = (ws: WebSocket) => {
    let state = states.get(ws);
    if (state === undefined) {
      state = { phase: 'before', ctx: null, held: [], subscriptions: new Map(), dispatch: null };
      states.set(ws, state);
    }
    return state;
  };

  /** Built as tRPC builds its replies (same keys, same order), without its object copies. */
  const send = (ws: WebSocket, frame: object) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const sendError = (
    ws: WebSocket,
    call: { id: CallId; jsonrpc: '2.0' | undefined; type: ProcedureType; path: string; input: unknown; ctx: Context },
    error: TRPCError,
  ) => {
    onError({ error, path: call.path });
    const shape = getErrorShape({ config, error, type: call.type, path: call.path, input: call.input, ctx: call.ctx });
    send(ws, transformTRPCResponse(config, { id: call.id, jsonrpc: call.jsonrpc, error: shape }));
  };

  async function serveSubscription(
    ws: WebSocket,
    state: SocketState,
    ctx: Context & { userId: string },
    call: { id: CallId; jsonrpc: '2.0' | undefined; input: unknown },
    input: unknown,
  ): Promise<void> {
    const { id, jsonrpc } = call;
    const controller = new AbortController();
    state.subscriptions.set(id, controller);
    try {
      // tRPC answers nothing for a subscription whose socket closed before it started.
      if (ws.readyState !== ws.OPEN) return;
      send(ws, { id, jsonrpc, result: { type: 'started' } });
      try {
        for await (const [eventId, message] of procedures.onMessage.run(ctx, input as never, controller.signal)) {
          if (controller.signal.aborted) break;
          const data = config.transformer.output.serialize({ id: eventId, data: message });
          send(ws, { id, jsonrpc, result: { type: 'data', data, id: eventId } });
        }
      } catch (cause) {
        controller.abort();
        sendError(ws, { ...call, type: 'subscription', path: 'onMessage', ctx }, getTRPCErrorFromUnknown(cause));
      }
      send(ws, { id, jsonrpc, result: { type: 'stopped' } });
    } finally {
      state.subscriptions.delete(id);
    }
  }

  /** Serves `data` if it is a call this path serves on an authenticated socket; false leaves it to tRPC. */
  function take(ws: WebSocket, state: SocketState, data: RawData, isBinary: boolean): boolean {
    const ctx = state.ctx;
    const userId = ctx?.userId ?? null;
    if (ctx === null || userId === null || isBinary || !Buffer.isBuffer(data)) return false;
    if (data.indexOf(markers[0]!) === -1 && data.indexOf(markers[1]!) === -1) return false;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return false;
    }
    if (!isObject(frame)) return false;
    const { id, jsonrpc, method, params } = frame;
    if ((typeof id !== 'number' || Number.isNaN(id)) && typeof id !== 'string') return false;
    if (jsonrpc !== undefined && jsonrpc !== '2.0') return false;

    if (method === 'subscription.stop') {
      const subscription = state.subscriptions.get(id);
      if (subscription === undefined) return false;
      subscription.abort();
      return true;
    }
    if (method !== 'mutation' && method !== 'subscription') return false;
    if (!isObject(params) || typeof params['path'] !== 'string') return false;
    const path = params['path'];
    const lastEventId = params['lastEventId'];
    if (lastEventId !== undefined && (method === 'mutation' || typeof lastEventId !== 'string')) return false;
    let input: unknown;
    try {
      input = config.transformer.input.deserialize(params['input']);
    } catch {
      return false;
    }

    if (method === 'subscription') {
      if (path !== 'onMessage') return false;
      // As tRPC's adapter does: a reconnecting client's lastEventId joins the input.
      if (lastEventId !== undefined) input = isObject(input) ? { ...input, lastEventId } : (input ?? { lastEventId });
      const parsed = procedures.onMessage.input.safeParse(input);
      if (!parsed.success) return false;
      // Only this path's own ids are known here: tRPC serves just the rare subscription
      // that fails validation, and refuses it at once.
      if (state.subscriptions.has(id)) {
        const error = new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` });
        sendError(ws, { id, jsonrpc, type: 'subscription', path, input, ctx }, error);
        return true;
      }
      void serveSubscription(ws, state, { ...ctx, userId }, { id, jsonrpc, input }, parsed.data);
      return true;
    }

    const mutation = Object.hasOwn(mutations, path) ? mutations[path] : undefined;
    if (mutation === undefined) return false;
    const parsed = mutation.input.safeParse(input);
    if (!parsed.success) return false;
    const fail = (cause: unknown) =>
      sendError(ws, { id, jsonrpc, type: 'mutation', path, input, ctx }, domainTrpcError(cause) ?? getTRPCErrorFromUnknown(cause));
    try {
      mutation.run(userId, parsed.data).then((result) => {
        send(ws, { id, jsonrpc, result: { type: 'data', data: config.transformer.output.serialize(result) } });
      }, fail);
    } catch (cause) {
      fail(cause);
    }
    return true;
  }

  return {
    /**
     * Wraps the socket's `createContext`: frames that come while it runs wait here, as
     * they would in tRPC, and are served in order once it settles.
     */
    trackContext(ws: WebSocket, creating: Promise<Context>): Promise<Context> {
      const state = stateOf(ws);
      state.phase = 'creating';
      const settle = (ctx: Context | null) => {
        state.phase = ctx === null ? 'failed' : 'ready';
        state.ctx = ctx;
        for (const [data, isBinary] of state.held.splice(0)) state.dispatch?.(data, isBinary);
      };
      creating.then(settle, () => settle(null));
      return creating;
    },

    /**
     * Puts this path in front of the socket's message listeners (tRPC's handler, attached
     * on 'connection'): a frame it takes, they never see.
     */
    attach(ws: WebSocket): void {
      const state = stateOf(ws);
      const listeners = ws.listeners('message') as Listener[];
      const dispatch = (data: RawData, isBinary: boolean) => {
        if (state.phase === 'ready' && take(ws, state, data, isBinary)) return;
        for (const listener of listeners) listener.call(ws, data, isBinary);
      };
      state.dispatch = dispatch;
      ws.removeAllListeners('message');
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (state.phase === 'creating') state.held.push([data, isBinary]);
        else dispatch(data, isBinary);
      });
      ws.once('close', () => {
        for (const subscription of state.subscriptions.values()) subscription.abort();
      });
    },
  };
}
