/**
 * @module dispatch
 * Runs the procedure calls of a socket. The hot ones (a small table: their zod input and
 * body, from router/message-procedures.ts) are served directly: tRPC's per-call
 * machinery (middleware context copies, AbortControllers, promise races) costs more CPU
 * than the message itself. Everything else, and any hot call that would fail before its
 * body (no user, input that fails validation), goes through tRPC's public
 * `callTRPCProcedure` with the real `batchIndex`, context and signal, so its answer is
 * exactly tRPC's. Replies and errors are written one way for both (tRPC's frames, error
 * shapes through the router's `errorFormatter`).
 *
 * Ordering: calls start in the order they arrive; a hot mutation's body starts at once,
 * so one client's sends reach the store in the order sent. A call through tRPC reaches its
 * body a few microtasks after it starts (its middleware), so a hot send later in the same
 * frame may reach the store first; that is the one difference from tRPC, which starts
 * every call after the same number of microtasks. A subscription starts a microtask
 * later, as in tRPC, so a stop in the same read wins and the client gets 'stopped' alone.
 */
import {
  callTRPCProcedure,
  getErrorShape,
  getTRPCErrorFromUnknown,
  isTrackedEnvelope,
  TRPCError,
  type AnyRouter,
  type TRPCErrorShape,
} from '@trpc/server';
import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { TRPC_ERROR_CODES_BY_KEY, type TRPCResponseMessage } from '@trpc/server/rpc';
import type { ZodTypeAny } from 'zod';
import type { Context } from '../../router/trpc.js';
import { toTrpcError } from '../../router/trpc.js';
import type { MessageProcedures } from '../../router/message-procedures.js';
import { encodeResponse, type Call, type CallId, type ProcedureCall } from './protocol.js';

type AuthedContext = Context & { userId: string };

/** A procedure served directly: input schema and body. */
type Hot =
  | { type: 'mutation'; input: ZodTypeAny; run(ctx: AuthedContext, input: unknown): Promise<unknown> }
  /** Its stream ends by itself once `signal` aborts (so the loop need not race each event against the stop). */
  | { type: 'subscription'; input: ZodTypeAny; run(ctx: AuthedContext, input: unknown, signal: AbortSignal): Promise<AsyncIterable<unknown>> };

/** What dispatch needs of a socket (connection.ts). */
export interface CallSite {
  /** Undefined when the context could not be created (then `setupError` is set). */
  readonly ctx: Context | undefined;
  readonly setupError: TRPCError | null;
  /** The socket's subscriptions by call id: the one map a stop looks in. */
  readonly subscriptions: Map<CallId, AbortController>;
  /** Aborted when the socket closes: the signal of its queries and mutations. */
  readonly signal: AbortSignal;
  isOpen(): boolean;
  send(frame: string): void;
}

export interface DispatchOptions {
  router: AnyRouter;
  procedures: MessageProcedures;
  /** Called for every failed call, as tRPC's `onError`. */
  onError: (info: { error: TRPCError; path: string | undefined }) => void;
  /** Counts a call served directly, by procedure. */
  onServed: (path: string) => void;
}

/** What a client gets when its error cannot be shaped (as tRPC's adapter answers). */
const fallbackErrorShape: TRPCErrorShape = {
  code: TRPC_ERROR_CODES_BY_KEY.INTERNAL_SERVER_ERROR,
  message: 'Internal server error',
  data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 },
};

function isAbortError(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { name?: unknown }).name === 'AbortError';
}

function isIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** The next event, or 'abort' as soon as `signal` aborts (for streams that may ignore it). */
function nextOrAbort(iterator: AsyncIterator<unknown>, signal: AbortSignal): Promise<IteratorResult<unknown> | 'abort'> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve('abort');
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (result) => (signal.removeEventListener('abort', onAbort), resolve(result)),
      (cause: unknown) => (signal.removeEventListener('abort', onAbort), reject(cause)),
    );
  });
}

export function createDispatch({ router, procedures, onError, onServed }: DispatchOptions) {
  const config = router._def._config;
  const hot = new Map<string, Hot>([
    ['sendToUser', { type: 'mutation', input: procedures.sendToUser.input, run: (ctx, input) => procedures.sendToUser.run(ctx.userId, input as never) }],
    ['ack', { type: 'mutation', input: procedures.ack.input, run: (ctx, input) => procedures.ack.run(ctx.userId, input as never) }],
    ['onMessage', { type: 'subscription', input: procedures.onMessage.input, run: (ctx, input, signal) => procedures.onMessage.run(ctx, input as never, signal) }],
  ]);

  const respond = (site: CallSite, response: TRPCResponseMessage) => site.send(encodeResponse(config, response));

  /** The client's error shape, through the router's errorFormatter; an error that belongs to no call has type 'unknown' and no path. */
  function shapeOf(site: CallSite, error: TRPCError, call?: { type: ProcedureCall['method']; path: string; input: unknown }): TRPCErrorShape {
    try {
      return getErrorShape({ config, error, type: call?.type ?? 'unknown', path: call?.path, input: call?.input, ctx: site.ctx });
    } catch (cause) {
      onError({ error: getTRPCErrorFromUnknown(cause), path: call?.path });
      return fallbackErrorShape;
    }
  }

  function fail(site: CallSite, call: ProcedureCall, input: unknown, cause: unknown): void {
    const error = toTrpcError(cause);
    onError({ error, path: call.params.path });
    respond(site, { id: call.id, jsonrpc: call.jsonrpc, error: shapeOf(site, error, { type: call.method, path: call.params.path, input }) });
  }

  /** A reply that could not be written (encoding it, or reporting its error, threw): logged, never an unhandled rejection. */
  function reportUnanswerable(call: ProcedureCall, cause: unknown): void {
    try {
      onError({ error: getTRPCErrorFromUnknown(cause), path: call.params.path });
    } catch {
      // onError itself threw: nothing is left to report it with.
    }
  }

  /** The hot body that serves `call` and its parsed input, or null: tRPC answers it. */
  function hotFor(site: CallSite, call: ProcedureCall, input: unknown): { hot: Hot; ctx: AuthedContext; input: unknown } | null {
    const ctx = site.ctx;
    if (ctx === undefined || ctx.userId === null) return null;
    const procedure = hot.get(call.params.path);
    if (procedure === undefined || procedure.type !== call.method) return null;
    // A mutation with a lastEventId is not one the table knows how to read.
    if (procedure.type === 'mutation' && call.params.lastEventId !== undefined) return null;
    const parsed = procedure.input.safeParse(input);
    return parsed.success ? { hot: procedure, ctx: ctx as AuthedContext, input: parsed.data } : null;
  }

  function viaTrpc(site: CallSite, call: ProcedureCall, input: unknown, batchIndex: number, signal: AbortSignal): Promise<unknown> {
    return callTRPCProcedure({
      router,
      path: call.params.path,
      getRawInput: () => Promise.resolve(input),
      ctx: site.ctx,
      type: call.method,
      signal,
      batchIndex,
    });
  }

  function runQueryOrMutation(site: CallSite, call: ProcedureCall, input: unknown, batchIndex: number): void {
    const served = hotFor(site, call, input);
    let running: Promise<unknown>;
    try {
      if (served === null) {
        running = viaTrpc(site, call, input, batchIndex, site.signal).then((result) => {
          if (isIterable(result) || isObservable(result)) {
            throw new TRPCError({
              code: 'UNSUPPORTED_MEDIA_TYPE',
              message: `Cannot return an async iterable or observable from a ${call.method} procedure with WebSockets`,
            });
          }
          return result;
        });
      } else {
        onServed(call.params.path);
        running = (served.hot as Extract<Hot, { type: 'mutation' }>).run(served.ctx, served.input);
      }
    } catch (cause) {
      running = Promise.reject(cause);
    }
    running
      .then(
        (data) => respond(site, { id: call.id, jsonrpc: call.jsonrpc, result: { type: 'data', data } }),
        (cause: unknown) => fail(site, call, input, cause),
      )
      .catch((cause: unknown) => reportUnanswerable(call, cause));
  }

  /**
   * Serves a subscription until it ends, then frees its id and, unless it was refused
   * (the error alone, never 'started' first), tells the client 'stopped'. Never rejects.
   */
  async function subscribe(site: CallSite, call: ProcedureCall, input: unknown, batchIndex: number, controller: AbortController) {
    const { id, jsonrpc } = call;
    const { signal } = controller;
    let refused = false;
    const refuse = (cause: unknown) => {
      refused = true;
      fail(site, call, input, cause);
    };
    try {
      // A stop in the same read (or batch) runs first.
      await null;
      if (signal.aborted || !site.isOpen()) return;

      const served = hotFor(site, call, input);
      if (served !== null) onServed(call.params.path);
      let result: unknown;
      try {
        result =
          served === null
            ? await viaTrpc(site, call, input, batchIndex, signal)
            : await (served.hot as Extract<Hot, { type: 'subscription' }>).run(served.ctx, served.input, signal);
      } catch (cause) {
        const error = toTrpcError(cause);
        // Given up because it was stopped meanwhile: that is a stop, not a failure.
        if (!(signal.aborted && error.code === 'INTERNAL_SERVER_ERROR' && isAbortError(error.cause))) refuse(error);
        return;
      }
      const iterable = isObservable(result) ? observableToAsyncIterable(result, signal) : result;
      if (!isIterable(iterable)) {
        const message = `Subscription ${call.params.path} did not return an observable or a AsyncGenerator`;
        return refuse(new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message }));
      }
      const iterator = iterable[Symbol.asyncIterator]();
      let completed = false;
      try {
        // Stopped or closed while it opened: never started.
        if (signal.aborted || !site.isOpen()) return;
        respond(site, { id, jsonrpc, result: { type: 'started' } });
        for (;;) {
          let next: IteratorResult<unknown> | 'abort';
          try {
            next = await (served === null ? nextOrAbort(iterator, signal) : iterator.next());
          } catch (cause) {
            const error = toTrpcError(cause);
            // Once stopped, a failure is only reported (an AbortError not even that).
            if (!signal.aborted) fail(site, call, input, error);
            else if (!isAbortError(cause) && !isAbortError(error.cause)) onError({ error, path: call.params.path });
            return;
          }
          if (next === 'abort' || signal.aborted) return;
          if (next.done === true) {
            completed = true;
            return;
          }
          const value = next.value;
          respond(site, {
            id,
            jsonrpc,
            result: isTrackedEnvelope(value)
              ? { type: 'data', data: { id: value[0], data: value[1] }, id: value[0] }
              : { type: 'data', data: value },
          });
        }
      } finally {
        if (!completed) controller.abort();
        try {
          await iterator.return?.();
        } catch (cause) {
          // The client still gets 'stopped': a failed clean-up is the server's to know.
          onError({ error: toTrpcError(cause), path: call.params.path });
        }
      }
    } catch (cause) {
      refuse(cause);
    } finally {
      // Freed right before the client is told it may use the id again.
      site.subscriptions.delete(id!);
      if (!refused) respond(site, { id, jsonrpc, result: { type: 'stopped' } });
    }
  }

  /** Answers a frame-level failure (unreadable frame, batch over a limit, context refused, a call without an id) to each of `ids`, or once with a null id. */
  function refuse(site: CallSite, error: TRPCError, ids: Array<{ id: CallId | null; jsonrpc: '2.0' | undefined }>): void {
    onError({ error, path: undefined });
    const shape = shapeOf(site, error);
    if (ids.length === 0) respond(site, { id: null, error: shape });
    for (const { id, jsonrpc } of ids) respond(site, { id, jsonrpc, error: shape });
  }

  return {
    /** Runs one call of `site`'s; `batchIndex` is its place in its frame. */
    run(site: CallSite, call: Call, batchIndex: number): void {
      if (call.id === null) {
        // As tRPC: answered as the frame's error (no path), whatever the call was.
        return refuse(site, new TRPCError({ code: 'PARSE_ERROR', message: '`id` is required' }), [{ id: null, jsonrpc: call.jsonrpc }]);
      }
      if (call.method === 'subscription.stop') {
        const subscription = site.subscriptions.get(call.id);
        if (subscription === undefined) return;
        onServed(call.method);
        // An AbortError is built on every abort() call, even of an aborted signal.
        if (!subscription.signal.aborted) subscription.abort();
        return;
      }
      const { id, params } = call;
      let input = params.input;
      // As tRPC's adapter: a reconnecting client's lastEventId joins the input.
      if (params.lastEventId !== undefined) {
        const lastEventId = params.lastEventId;
        input = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input, lastEventId } : (input ?? { lastEventId });
      }
      if (call.method === 'subscription' && site.subscriptions.has(id)) {
        return fail(site, call, input, new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }));
      }
      if (site.setupError !== null) return fail(site, call, input, site.setupError);
      if (call.method !== 'subscription') return runQueryOrMutation(site, call, input, batchIndex);
      const controller = new AbortController();
      site.subscriptions.set(id, controller);
      subscribe(site, call, input, batchIndex, controller).catch((cause: unknown) => reportUnanswerable(call, cause));
    },

    refuse,
  };
}
