/**
 * @module direct-calls
 * Serves the per-message procedures (`sendToUser`, `ack`, `onMessage` and its
 * `subscription.stop`) beneath tRPC's WebSocket adapter. tRPC's per-call and per-event
 * machinery (AbortControllers, middleware context copies, promise races, response copies)
 * costs more CPU than the message itself, and its garbage is most of the server's latency
 * tail. The frames are the same, the input goes through the same transformer and zod
 * schema, the bodies are the router's own (router/message-procedures.ts), and a failure
 * gets tRPC's error shape and `onError`.
 *
 * Every call of an authenticated socket that it can serve, it serves, batched or not, so
 * that one client's sends reach the store in the order they were sent and every
 * subscription id is known in one place. Anything else (another procedure, a socket
 * without a user, input that fails validation) goes to tRPC's handler in order, a batch
 * element as a frame of its own (tRPC serves a batch element by element); a frame or
 * batch that tRPC would refuse as a whole goes to it unchanged.
 */
import { TRPCError, type AnyRouter } from '@trpc/server';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  transformTRPCResponse,
  TRPC_ERROR_CODES_BY_KEY,
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
  /** Counts a call served here, by procedure path. */
  onServed: (path: string) => void;
}

type Listener = (data: RawData, isBinary: boolean) => void;
type CallId = string | number;

/** One element of a frame, as tRPC's `parseTRPCMessage` reads it. */
interface Call {
  raw: Record<string, unknown>;
  id: CallId | null;
  jsonrpc: '2.0' | undefined;
  method: ProcedureType | 'subscription.stop';
  path: string;
  input: unknown;
  lastEventId: string | undefined;
}

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

/** What tRPC's adapter answers when an error cannot be shaped (its `fallbackErrorShape`). */
const fallbackErrorShape = {
  code: TRPC_ERROR_CODES_BY_KEY.INTERNAL_SERVER_ERROR,
  message: 'Internal server error',
  data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 },
};

/**
 * Frames of the calls served here contain one of these (a frame whose encoder escaped
 * plain letters has a `\u`); any other frame is not read twice.
 */
const markers = [Buffer.from('"mutation"'), Buffer.from('"subscription'), Buffer.from('\\u')];
const procedureTypes: ReadonlySet<unknown> = new Set(['query', 'mutation', 'subscription']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ping = Buffer.from('PING');
const pong = Buffer.from('PONG');

/** Keep-alive frames, which tRPC answers at once even before the context exists. */
function isKeepAlive(data: RawData, isBinary: boolean): boolean {
  return !isBinary && Buffer.isBuffer(data) && data.length === 4 && (data.equals(ping) || data.equals(pong));
}

function isAbortError(value: unknown): boolean {
  return value instanceof Error && value.name === 'AbortError';
}

export function createDirectCalls({ router, procedures, onError, onServed }: DirectCallsOptions) {
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

  /** The element as tRPC parses it, or null where tRPC would refuse the whole frame. */
  function parseCall(raw: unknown): Call | null {
    if (!isObject(raw)) return null;
    const { id, jsonrpc, method, params } = raw;
    if (id !== null && typeof id !== 'string' && (typeof id !== 'number' || Number.isNaN(id))) return null;
    if (jsonrpc !== undefined && jsonrpc !== '2.0') return null;
    if (method === 'subscription.stop') {
      return { raw, id, jsonrpc, method, path: '', input: undefined, lastEventId: undefined };
    }
    if (!procedureTypes.has(method) || !isObject(params) || typeof params['path'] !== 'string') return null;
    const lastEventId = params['lastEventId'];
    if (lastEventId !== undefined && typeof lastEventId !== 'string') return null;
    try {
      const input: unknown = config.transformer.input.deserialize(params['input']);
      return { raw, id, jsonrpc, method: method as ProcedureType, path: params['path'], input, lastEventId };
    } catch {
      return null;
    }
  }

  /** Built as tRPC builds its replies (same keys, same order), without its object copies. */
  const send = (ws: WebSocket, frame: object) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const sendError = (ws: WebSocket, call: Call, type: ProcedureType, ctx: Context, error: TRPCError) => {
    onError({ error, path: call.path });
    let shape: unknown;
    try {
      shape = getErrorShape({ config, error, type, path: call.path, input: call.input, ctx });
    } catch (cause) {
      onError({ error: getTRPCErrorFromUnknown(cause), path: call.path });
      shape = fallbackErrorShape;
    }
    try {
      send(ws, transformTRPCResponse(config, { id: call.id, jsonrpc: call.jsonrpc, error: shape as never }));
    } catch (cause) {
      onError({ error: getTRPCErrorFromUnknown(cause), path: call.path });
    }
  };

  async function serveSubscription(
    ws: WebSocket,
    state: SocketState,
    ctx: Context & { userId: string },
    call: Call & { id: CallId },
    input: unknown,
  ): Promise<void> {
    const { id, jsonrpc } = call;
    const controller = new AbortController();
    state.subscriptions.set(id, controller);
    try {
      // tRPC starts a subscription only after awaiting the context, so a stop that came
      // in the same read (or batch) wins and the client gets 'stopped' alone.
      await null;
      // tRPC answers nothing for a subscription whose socket closed before it started.
      if (ws.readyState !== ws.OPEN) return;
      if (controller.signal.aborted) {
        send(ws, { id, jsonrpc, result: { type: 'stopped' } });
        return;
      }
      let events: Awaited<ReturnType<MessageProcedures['onMessage']['run']>>;
      try {
        events = await procedures.onMessage.run(ctx, input as never, controller.signal);
      } catch (cause) {
        // As in tRPC: a subscription refused before it started gets the error alone.
        const error = getTRPCErrorFromUnknown(cause);
        if (controller.signal.aborted && isAbortError(error.cause)) send(ws, { id, jsonrpc, result: { type: 'stopped' } });
        else sendError(ws, call, 'subscription', ctx, error);
        return;
      }
      // Stopped or closed while it opened: as tRPC, never started ('stopped' still goes to an open socket).
      if (controller.signal.aborted || ws.readyState !== ws.OPEN) {
        controller.abort();
        await events.return(undefined);
        send(ws, { id, jsonrpc, result: { type: 'stopped' } });
        return;
      }
      send(ws, { id, jsonrpc, result: { type: 'started' } });
      try {
        for await (const [eventId, message] of events) {
          if (controller.signal.aborted) break;
          const data = config.transformer.output.serialize({ id: eventId, data: message });
          send(ws, { id, jsonrpc, result: { type: 'data', data, id: eventId } });
        }
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        // As in tRPC: once stopped, a failure is only reported (an AbortError not even
        // that), and the client gets 'stopped'.
        if (!controller.signal.aborted) sendError(ws, call, 'subscription', ctx, error);
        else if (!isAbortError(cause) && !isAbortError(error.cause)) onError({ error, path: call.path });
        controller.abort();
      }
      send(ws, { id, jsonrpc, result: { type: 'stopped' } });
    } finally {
      state.subscriptions.delete(id);
    }
  }

  /**
   * What serving `call` here takes, checked but not started; null leaves it to tRPC.
   * A stop always runs here: it stops the subscription wherever it is served.
   */
  function prepare(ws: WebSocket, state: SocketState, ctx: Context, userId: string, call: Call, toTrpc: Listener) {
    const { id, method, path, jsonrpc } = call;
    if (id === null) return null;
    if (method === 'subscription.stop') {
      return () => {
        const subscription = state.subscriptions.get(id);
        // Not one of this path's: tRPC reads nothing of a stop but these three.
        if (subscription === undefined) return toTrpc(Buffer.from(JSON.stringify({ id, jsonrpc, method })), false);
        subscription.abort();
        onServed(method);
      };
    }

    if (method === 'subscription') {
      const refuseDuplicate = () => {
        // Counted as onMessage whatever the path: a label never takes a client's string.
        onServed('onMessage');
        sendError(ws, call, method, ctx, new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }));
      };
      // tRPC refuses a duplicate id before it looks at the path or the input.
      if (state.subscriptions.has(id)) return refuseDuplicate;
      if (path !== 'onMessage') return null;
      // As tRPC's adapter does: a reconnecting client's lastEventId joins the input.
      const { lastEventId } = call;
      let input = call.input;
      if (lastEventId !== undefined) input = isObject(input) ? { ...input, lastEventId } : (input ?? { lastEventId });
      const parsed = procedures.onMessage.input.safeParse(input);
      if (!parsed.success) return null;
      return () => {
        if (state.subscriptions.has(id)) return refuseDuplicate();
        onServed(path);
        serveSubscription(ws, state, { ...ctx, userId }, { ...call, id, input }, parsed.data).catch((cause: unknown) =>
          onError({ error: getTRPCErrorFromUnknown(cause), path }),
        );
      };
    }

    if (method !== 'mutation' || call.lastEventId !== undefined) return null;
    const mutation = Object.hasOwn(mutations, path) ? mutations[path] : undefined;
    if (mutation === undefined) return null;
    const parsed = mutation.input.safeParse(call.input);
    if (!parsed.success) return null;
    return () => {
      onServed(path);
      const fail = (cause: unknown) =>
        sendError(ws, call, method, ctx, domainTrpcError(cause) ?? getTRPCErrorFromUnknown(cause));
      let running: Promise<unknown>;
      try {
        running = mutation.run(userId, parsed.data);
      } catch (cause) {
        running = Promise.reject(cause);
      }
      running
        .then((result) => {
          send(ws, { id, jsonrpc, result: { type: 'data', data: config.transformer.output.serialize(result) } });
        })
        .catch(fail);
    };
  }

  /**
   * Serves what it can of `data`; false leaves the whole frame to tRPC. Batch elements
   * it does not serve go to `toTrpc` one by one, in their place.
   */
  function take(ws: WebSocket, state: SocketState, data: RawData, isBinary: boolean, toTrpc: Listener): boolean {
    const ctx = state.ctx;
    const userId = ctx?.userId ?? null;
    if (ctx === null || userId === null || isBinary || !Buffer.isBuffer(data)) return false;
    if (!data.includes(markers[0]!) && !data.includes(markers[1]!) && !data.includes(markers[2]!)) return false;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return false;
    }
    if (!Array.isArray(frame)) {
      // The common case, one call per frame: no batch bookkeeping.
      const call = parseCall(frame);
      const step = call === null ? null : prepare(ws, state, ctx, userId, call, toTrpc);
      if (step === null) return false;
      step();
      return true;
    }
    const calls = frame.map(parseCall);
    if (calls.length === 0 || calls.includes(null)) return false;
    const steps: Array<() => void> = [];
    for (const call of calls as Call[]) {
      const step = prepare(ws, state, ctx, userId, call, toTrpc);
      if (step !== null) {
        steps.push(step);
      } else {
        // Written out before anything runs: an element too deeply nested to write again
        // sends the whole frame to tRPC, as if none of it were served here.
        let element: Buffer;
        try {
          element = Buffer.from(JSON.stringify(call.raw));
        } catch {
          return false;
        }
        steps.push(() => toTrpc(element, false));
      }
    }
    for (const step of steps) step();
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
     * Puts this path in front of the socket's message listeners: call it right after
     * 'connection', when tRPC's handler has attached its own. A frame it takes, they
     * never see.
     */
    attach(ws: WebSocket): void {
      const state = stateOf(ws);
      const listeners = ws.listeners('message') as Listener[];
      const toTrpc: Listener = (data, isBinary) => {
        for (const listener of listeners) listener.call(ws, data, isBinary);
      };
      const dispatch: Listener = (data, isBinary) => {
        if (state.phase !== 'ready' || !take(ws, state, data, isBinary, toTrpc)) toTrpc(data, isBinary);
      };
      state.dispatch = dispatch;
      ws.removeAllListeners('message');
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (state.phase === 'creating' && !isKeepAlive(data, isBinary)) state.held.push([data, isBinary]);
        else dispatch(data, isBinary);
      });
      ws.once('close', () => {
        for (const subscription of state.subscriptions.values()) subscription.abort();
      });
    },
  };
}
